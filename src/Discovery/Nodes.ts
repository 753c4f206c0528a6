/**
 * `nodes://a:1,b:2` (or a bare `a:1,b:2`): a static list of entries. Each
 * comma-separated pattern may hold `[from:to]` ranges. The list is checked
 * when the backend is built, so a typo fails `list` at once with the bad
 * pattern in the message. It cannot register: it is a list, not a registry.
 */
import { Effect, Either, type Scope, Stream } from "effect"
import * as AddressRange from "../AddressRange.js"
import type { Backend, ResolvedOptions } from "./Backend.js"
import { type DiscoveryError, InvalidRange, InvalidUrl, NotImplemented } from "../DiscoveryError.js"
import * as Entries from "../Entries.js"
import * as Entry from "../Entry.js"

export interface ParseOptions {
  /** The most entries one pattern's ranges may expand to. Default `AddressRange.MAX_EXPANSION`. */
  readonly max?: number
  /** Where pattern number `index` came from (`in /path line 3`), added to its error. */
  readonly where?: (index: number) => string
}

/**
 * Expands and parses patterns into a set of entries. What one pattern's
 * ranges expand to is capped, so a typo cannot allocate millions; addresses
 * written out one by one are not (a 100,000-line file works, as in Swarm).
 * Empty patterns (a blank line) are skipped.
 */
export const parsePatterns = (
  patterns: Iterable<string>,
  options: ParseOptions = {}
): Either.Either<Entries.Entries, Entry.InvalidEntry | InvalidRange> => {
  const max = options.max ?? AddressRange.MAX_EXPANSION
  const locate = (index: number, reason: string) =>
    options.where === undefined ? reason : `${reason} (${options.where(index)})`
  const out: Array<Entry.Entry> = []
  let index = -1
  for (const raw of patterns) {
    index++
    const pattern = raw.trim()
    if (pattern === "") continue
    // A pattern without a range is one address: skip the expander.
    const expanded = pattern.includes("[") ? AddressRange.expand(pattern, max) : Either.right([pattern])
    if (Either.isLeft(expanded)) {
      const error = expanded.left
      return Either.left(
        new InvalidRange({
          input: error.input,
          position: error.position,
          reason: locate(index, error.reason)
        })
      )
    }
    for (const address of expanded.right) {
      const entry = Entry.parse(address)
      if (Either.isLeft(entry)) {
        return Either.left(
          new Entry.InvalidEntry({ input: address, reason: locate(index, entry.left.reason) })
        )
      }
      out.push(entry.right)
    }
  }
  return Either.right(Entries.fromIterable(out))
}

const HINT = "nodes:// is a static list; use token://, etcd://, zk://, consul:// or memory:// to register"

export const make = (
  rest: string,
  _options: ResolvedOptions
): Effect.Effect<Backend, DiscoveryError, Scope.Scope> => {
  const patterns = rest.split(",")
  if (patterns.some((p) => p.trim() === "")) {
    return Effect.fail(
      new InvalidUrl({
        url: `nodes://${rest}`,
        reason:
          rest.trim() === ""
            ? "expected one or more comma-separated host:port, for example nodes://10.0.0.[1:3]:2375"
            : "an empty item between commas; expected host:port,host:port"
      })
    )
  }
  return Effect.map(parsePatterns(patterns), (entries) => ({
    register: () => Effect.fail(new NotImplemented({ backend: "nodes", operation: "register", hint: HINT })),
    deregister: () =>
      Effect.fail(new NotImplemented({ backend: "nodes", operation: "deregister", hint: HINT })),
    readOnly: true,
    // The list never changes: emit it once, then stay open so `watch` keeps waiting.
    watch: Stream.concat(Stream.make(entries), Stream.never)
  }))
}
