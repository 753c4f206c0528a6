/**
 * A discovery entry: one `host:port`, parsed with the rules of Go's
 * `net.SplitHostPort` (IPv6 in brackets), plus a stricter port check.
 *
 * Pure model: no I/O.
 */
import { Data, Either } from "effect"

export class InvalidEntry extends Data.TaggedError("InvalidEntry")<{
  readonly input: string
  readonly reason: string
}> {
  override get message(): string {
    return `invalid address ${JSON.stringify(this.input)}: ${this.reason}; expected host:port, for example 10.0.0.1:2375 or [2001:db8::1]:2375`
  }
}

export interface Entry {
  readonly host: string
  readonly port: number
}

const HOSTNAME = /^[A-Za-z0-9._-]+$/
const IPV6 = /^[0-9A-Fa-f:.]+(%[A-Za-z0-9._-]+)?$/
const DIGITS = /^[0-9]+$/

export const make = (host: string, port: number): Entry => ({ host, port })

const parsePort = (input: string, port: string): Either.Either<number, InvalidEntry> => {
  if (port === "") return Either.left(new InvalidEntry({ input, reason: "missing port" }))
  if (!DIGITS.test(port) || port.length > 5) {
    return Either.left(
      new InvalidEntry({ input, reason: `port ${JSON.stringify(port)} is not a number from 1 to 65535` })
    )
  }
  const n = Number(port)
  if (n < 1 || n > 65535) {
    return Either.left(new InvalidEntry({ input, reason: `port ${n} is out of range 1-65535` }))
  }
  return Either.right(n)
}

/** Parses `host:port` the way Go's `net.SplitHostPort` does, then checks host and port. */
export const parse = (input: string): Either.Either<Entry, InvalidEntry> => {
  const fail = (reason: string) => Either.left(new InvalidEntry({ input, reason }))
  if (input.length === 0) return fail("empty address")
  if (input.length > 300) return fail("longer than 300 characters")
  if (input.startsWith("[")) {
    const end = input.indexOf("]")
    if (end < 0) return fail("missing ']' after the IPv6 address")
    const host = input.slice(1, end)
    const rest = input.slice(end + 1)
    if (rest === "") return fail("missing port")
    if (rest[0] !== ":") return fail("expected ':' after ']'")
    if (rest.indexOf(":", 1) >= 0) return fail("too many colons")
    if (host === "") return fail("empty host")
    if (!IPV6.test(host) || !host.includes(":")) return fail(`${JSON.stringify(host)} is not an IPv6 address`)
    return Either.map(parsePort(input, rest.slice(1)), (port) => ({ host, port }))
  }
  const colon = input.lastIndexOf(":")
  if (colon < 0) return fail("missing port")
  const host = input.slice(0, colon)
  if (host.includes(":")) return fail("too many colons (put an IPv6 address in brackets: [2001:db8::1]:2375)")
  if (host.includes("[") || host.includes("]")) return fail("unexpected bracket")
  if (host === "") return fail("empty host")
  if (!HOSTNAME.test(host))
    return fail(`host ${JSON.stringify(host)} has characters other than letters, digits, '.', '-' and '_'`)
  return Either.map(parsePort(input, input.slice(colon + 1)), (port) => ({ host, port }))
}

/** Prints `host:port`, adding the brackets back around IPv6 hosts. */
export const format = (entry: Entry): string =>
  entry.host.includes(":") ? `[${entry.host}]:${entry.port}` : `${entry.host}:${entry.port}`

export const equals = (a: Entry, b: Entry): boolean => a.host === b.host && a.port === b.port
