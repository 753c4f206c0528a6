/**
 * A discovery entry: one `host:port`, split the way Go's `net.SplitHostPort`
 * splits it (IPv6 in brackets), then checked more strictly than Swarm classic
 * did: IPv4 literals are four octets ≤ 255, IPv6 literals must parse, names
 * follow RFC 1123 labels plus `_` (Docker container and Compose service names
 * hold it, and Swarm classic accepts them), and the port is 1-65535. Host names are stored in
 * lower case, so `HOST.example:1` and `host.example:1` are one entry.
 *
 * An `Entry` compares by value (`Equal`/`Hash`), so a `HashSet` keeps one of
 * two equal entries. `FromString` is the Schema for `host:port`.
 *
 * Pure model: no I/O.
 */
import { Data, Either, Equal, Hash, Order as EffectOrder, ParseResult, Schema } from "effect"

export class InvalidEntry extends Data.TaggedError("InvalidEntry")<{
  readonly input: string
  readonly reason: string
}> {
  override get message(): string {
    return `invalid address ${JSON.stringify(this.input)}: ${this.reason}; expected host:port, for example 10.0.0.1:2375 or [2001:db8::1]:2375`
  }
}

/**
 * `host` without brackets (IPv6 as `2001:db8::1`), lower case; `port` 1-65535.
 * Compares by value like a `Data.Class`, written out because a file of
 * 100,000 lines builds 100,000 of them per read and `Data.Class` costs 3× more.
 */
export class Entry {
  readonly host: string
  readonly port: number
  constructor(args: { readonly host: string; readonly port: number }) {
    this.host = args.host
    this.port = args.port
  }
}
// On the prototype, as `Data.Class` does, so the type stays `{ host, port }`.
Object.defineProperties(Entry.prototype, {
  [Equal.symbol]: {
    value(this: Entry, that: unknown): boolean {
      return that instanceof Entry && that.host === this.host && that.port === this.port
    }
  },
  [Hash.symbol]: {
    value(this: Entry): number {
      return Hash.cached(this, Hash.combine(Hash.number(this.port))(Hash.string(this.host)))
    }
  }
})

/** Builds an entry without checking it (the host is lower-cased); `validate` or any backend checks it. */
export const make = (host: string, port: number): Entry => new Entry({ host: host.toLowerCase(), port })

const DIGITS = /^[0-9]+$/
const HOST_CHARS = /^[A-Za-z0-9._-]+$/
const LABEL = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/
const HEX_GROUP = /^[0-9a-f]{1,4}$/
const ZONE = /^[a-z0-9._-]+$/

/** The port, or why it is not one. */
const parsePort = (port: string): number | string => {
  if (port === "") return "missing port"
  if (!DIGITS.test(port) || port.length > 5)
    return `port ${JSON.stringify(port)} is not a number from 1 to 65535`
  const n = Number(port)
  return n < 1 || n > 65535 ? `port ${n} is out of range 1-65535` : n
}

/** Whether `text[from, to)` is a decimal octet 0-255 without a leading zero (the hot path for IPv4). */
const isOctet = (text: string, from: number, to: number): boolean => {
  const length = to - from
  if (length < 1 || length > 3) return false
  let n = 0
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i) - 48
    if (c < 0 || c > 9) return false
    n = n * 10 + c
  }
  return n <= 255 && (length === 1 || text.charCodeAt(from) !== 48)
}

const isIpv4 = (host: string): boolean => {
  let start = 0
  for (let octet = 0; octet < 4; octet++) {
    const dot = octet === 3 ? host.length : host.indexOf(".", start)
    if (dot < 0 || !isOctet(host, start, dot)) return false
    start = dot + 1
  }
  return true
}

/** Why `host` is not a dotted-quad IPv4 address, or `undefined` when it is one. */
const checkIpv4 = (host: string): string | undefined => {
  if (isIpv4(host)) return undefined
  const octets = host.split(".")
  if (octets.length !== 4)
    return `${JSON.stringify(host)} is not an IPv4 address (expected four numbers 0-255)`
  for (const octet of octets) {
    if (!DIGITS.test(octet) || octet.length > 3 || Number(octet) > 255) {
      return `${JSON.stringify(host)} is not an IPv4 address: ${JSON.stringify(octet)} is not a number 0-255`
    }
    if (octet.length > 1 && octet.startsWith("0")) {
      return `${JSON.stringify(host)} is not an IPv4 address: ${JSON.stringify(octet)} has a leading zero`
    }
  }
  return undefined
}

/** Why `host` (lower case, no brackets) is not an IPv6 address, or `undefined` when it is one. */
const checkIpv6 = (host: string): string | undefined => {
  const bad = `${JSON.stringify(host)} is not an IPv6 address`
  const percent = host.indexOf("%")
  const address = percent < 0 ? host : host.slice(0, percent)
  if (percent >= 0 && !ZONE.test(host.slice(percent + 1))) return `${bad}: bad zone after '%'`
  const halves = address.split("::")
  if (halves.length > 2) return `${bad}: '::' may appear only once`
  const groups = (half: string): Array<string> => (half === "" ? [] : half.split(":"))
  const head = groups(halves[0]!)
  const tail = halves.length === 2 ? groups(halves[1]!) : []
  const all = [...head, ...tail]
  let count = all.length
  // The last group may be an embedded IPv4 address (`::ffff:10.0.0.1`), worth two groups.
  const last = all[all.length - 1]
  if (last !== undefined && last.includes(".")) {
    if (checkIpv4(last) !== undefined) return `${bad}: ${JSON.stringify(last)} is not an IPv4 address`
    count++
    all.pop()
  }
  if (all.some((group) => !HEX_GROUP.test(group))) return `${bad}: each group is 1-4 hex digits`
  if (halves.length === 2 ? count > 7 : count !== 8) return `${bad}: wrong number of groups`
  return undefined
}

/** Why `host` (lower case) is not an RFC 1123 host name (`_` allowed), or `undefined` when it is one. */
const checkHostname = (host: string): string | undefined => {
  if (host.length > 253) return `host name is longer than 253 characters`
  for (const label of host.split(".")) {
    if (label === "") return `host ${JSON.stringify(host)} has an empty label (two dots, or a dot at an end)`
    if (!LABEL.test(label)) {
      return label.length > 63
        ? `host ${JSON.stringify(host)} has a label longer than 63 characters`
        : `host ${JSON.stringify(host)} has a label ${JSON.stringify(label)} that is not letters, digits, '_' and inner '-'`
    }
  }
  return undefined
}

/** Why `host` (as written, without brackets) cannot be an entry's host; `undefined` when it can. */
const checkHost = (host: string, bracketed: boolean): string | undefined => {
  if (host === "") return "empty host"
  if (bracketed) return checkIpv6(host)
  if (/^[0-9.]+$/.test(host)) return checkIpv4(host)
  return checkHostname(host)
}

/** Splits and checks `host:port`, or says why not; the one parser behind `parse` and `FromString`. */
const parseWith = (input: string): Entry | string => {
  if (input.length === 0) return "empty address"
  if (input.length > 300) return "longer than 300 characters"
  let host: string
  let port: string
  const bracketed = input.startsWith("[")
  if (bracketed) {
    const end = input.indexOf("]")
    if (end < 0) return "missing ']' after the IPv6 address"
    host = input.slice(1, end)
    const rest = input.slice(end + 1)
    if (rest === "") return "missing port"
    if (rest[0] !== ":") return "expected ':' after ']'"
    if (rest.indexOf(":", 1) >= 0) return "too many colons"
    if (host !== "" && !host.includes(":")) return `${JSON.stringify(host)} is not an IPv6 address`
    port = rest.slice(1)
  } else {
    const colon = input.lastIndexOf(":")
    if (colon < 0) return "missing port"
    host = input.slice(0, colon)
    port = input.slice(colon + 1)
    // The common case, a dotted quad, skips the general checks.
    if (isIpv4(host)) {
      const n = parsePort(port)
      return typeof n === "string" ? n : new Entry({ host, port: n })
    }
    if (host.includes(":")) return "too many colons (put an IPv6 address in brackets: [2001:db8::1]:2375)"
    if (host.includes("[") || host.includes("]")) return "unexpected bracket"
    if (host !== "" && !HOST_CHARS.test(host)) {
      return `host ${JSON.stringify(host)} has characters other than letters, digits, '.', '_' and '-'`
    }
  }
  const lower = host.toLowerCase()
  const badHost = checkHost(lower, bracketed)
  if (badHost !== undefined) return badHost
  const n = parsePort(port)
  return typeof n === "string" ? n : new Entry({ host: lower, port: n })
}

/** Parses `host:port`; the host comes back in lower case. */
export const parse = (input: string): Either.Either<Entry, InvalidEntry> => {
  const parsed = parseWith(input)
  return typeof parsed === "string"
    ? Either.left(new InvalidEntry({ input, reason: parsed }))
    : Either.right(parsed)
}

/** Prints `host:port`, adding the brackets back around IPv6 hosts. */
export const format = (entry: Entry): string =>
  entry.host.includes(":") ? `[${entry.host}]:${entry.port}` : `${entry.host}:${entry.port}`

/** Checks an entry built by hand (`make`, or a plain object): the same rules as `parse`. */
export const validate = (entry: {
  readonly host: string
  readonly port: number
}): Either.Either<Entry, InvalidEntry> => {
  const input = format(entry as Entry)
  if (!Number.isInteger(entry.port)) {
    return Either.left(
      new InvalidEntry({ input, reason: `port ${entry.port} is not a number from 1 to 65535` })
    )
  }
  return parse(input)
}

/** An IPv6 host (no brackets) as 8 zero-padded groups, then its zone: text that sorts numerically. */
const ipv6Key = (host: string): string => {
  const [address = "", zone = ""] = host.split("%")
  const groups = (half: string): Array<string> =>
    half === ""
      ? []
      : half.split(":").flatMap((g) => {
          if (!g.includes(".")) return [g]
          const [a = 0, b = 0, c = 0, d = 0] = g.split(".").map(Number)
          return [((a << 8) | b).toString(16), ((c << 8) | d).toString(16)]
        })
  const [head = "", tail] = address.split("::")
  const left = groups(head)
  const right = tail === undefined ? [] : groups(tail)
  const middle = Array.from({ length: 8 - left.length - right.length }, () => "0")
  return [...left, ...middle, ...right].map((g) => g.padStart(4, "0")).join(":") + `%${zone}`
}

/** Which kind of host sorts first (IPv4, IPv6, names), and the key that orders hosts of that kind. */
const hostKey = (host: string): readonly [number, string] => {
  if (isIpv4(host))
    return [
      0,
      host
        .split(".")
        .map((octet) => octet.padStart(3, "0"))
        .join(".")
    ]
  if (host.includes(":")) return [1, ipv6Key(host)]
  return [2, host]
}

/**
 * Address order, for output people read: IPv4 numerically (`10.0.0.8` before `10.0.0.10`), then IPv6
 * numerically, then names, each then by port.
 */
export const Order: EffectOrder.Order<Entry> = EffectOrder.make((a, b) => {
  const [kindA, keyA] = hostKey(a.host)
  const [kindB, keyB] = hostKey(b.host)
  if (kindA !== kindB) return kindA < kindB ? -1 : 1
  if (keyA !== keyB) return keyA < keyB ? -1 : 1
  return a.port === b.port ? 0 : a.port < b.port ? -1 : 1
})

export const equals = (a: Entry, b: Entry): boolean => a.host === b.host && a.port === b.port

/** `host:port` ⇄ `Entry`, with `parse`'s rules and messages. */
export const FromString: Schema.Schema<Entry, string> = Schema.transformOrFail(
  Schema.String,
  Schema.instanceOf(Entry),
  {
    strict: true,
    decode: (input, _, ast) => {
      const parsed = parseWith(input)
      return typeof parsed === "string"
        ? ParseResult.fail(
            new ParseResult.Type(ast, input, new InvalidEntry({ input, reason: parsed }).message)
          )
        : ParseResult.succeed(parsed)
    },
    encode: (entry) => ParseResult.succeed(format(entry))
  }
).annotations({ identifier: "Entry.FromString" })
