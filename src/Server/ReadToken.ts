/**
 * Read-only tokens: a second 32-hex token per cluster that can list and
 * long-poll (GET) but not register or delete.
 *
 * - **Derived, so stable.** The read-only token is the first 128 bits of
 *   SHA-256 over a fixed label and the cluster's token: the same on every
 *   ask, after every restart and on every instance sharing an etcd store,
 *   with no state to agree on. Knowing it tells nothing about the cluster's
 *   token (a preimage of SHA-256); knowing the cluster's token already allows
 *   everything the read-only one does.
 * - **Stored, so resolvable.** Asking for it stores `read-tokens/<read token>`
 *   → cluster token in the KvStore (no TTL). Every instance reads all of
 *   them at most once per `NOT_READ_ONLY_MS` (one read, whatever the number
 *   of clusters asked about) and keeps them (a mapping never changes); a
 *   token not among them is not read-only until the next read. So the hot
 *   paths (a heartbeat, a list with the cluster's own token) skip the store,
 *   and a read-only token issued on another HA instance is honoured here
 *   within that time (one issued here, at once).
 * - `read-tokens/` is not a 32-hex token, so it can never be a cluster's prefix.
 *   Stores count its keys among their entries (one per read-only token issued).
 */
import { createHash } from "node:crypto"
import { Clock, Deferred, Effect, FiberId } from "effect"
import type { KvError, KvStoreShape } from "../KvStore.js"

/** Where the mappings live in the KvStore (skip it when walking clusters). */
export const PREFIX = "read-tokens/"

const LABEL = "swarm-discovery read-only token\u0000"

/** The read-only token of a cluster token (lower-case 32 hex). */
export const derive = (token: string): string =>
  createHash("sha256")
    .update(LABEL + token)
    .digest("hex")
    .slice(0, 32)

export interface Resolved {
  /** The cluster's own token: the prefix of its entries. Never send it to a read-only client. */
  readonly cluster: string
  readonly readOnly: boolean
}

export interface ReadTokens {
  /** What a (canonical, lower-case) token from a URL stands for. */
  readonly resolve: (token: string) => Effect.Effect<Resolved, KvError>
  /** The cluster's read-only token, stored so that it resolves from now on (idempotent). */
  readonly issue: (token: string) => Effect.Effect<string, KvError>
}

/** How long the last read of every read-only token stands: a token not in it is not read-only meanwhile. */
export const NOT_READ_ONLY_MS = 5_000

export const make = (store: KvStoreShape, writer: KvStoreShape = store): ReadTokens => {
  /** Every read-only token known, to its cluster (a mapping never changes). */
  const known = new Map<string, string>()
  /** When every read-only token was last read from the store. */
  let listedAt: number | undefined
  /** That read while it runs, shared by every asker. */
  let listing: Deferred.Deferred<void, KvError> | undefined

  // One read of all read-only tokens (one key per token issued) for every token asked about: a
  // per-token lookup would cost a store read per cluster every few seconds, which adds up over
  // thousands of clusters. A daemon, so an asker that goes away does not cancel the others' read.
  const listAll = (now: number): Effect.Effect<void, KvError> =>
    Effect.suspend(() => {
      if (listing !== undefined) return Deferred.await(listing)
      const done = Deferred.unsafeMake<void, KvError>(FiberId.none)
      listing = done
      return store.list(PREFIX).pipe(
        Effect.map((snapshot) => {
          for (const { key, value } of snapshot.pairs) known.set(key.slice(PREFIX.length), value)
          listedAt = now
        }),
        Effect.intoDeferred(done),
        Effect.ensuring(Effect.sync(() => (listing = undefined))),
        Effect.forkDaemon,
        Effect.zipRight(Deferred.await(done))
      )
    })

  const resolved = (token: string): Resolved => {
    const cluster = known.get(token)
    return cluster === undefined ? { cluster: token, readOnly: false } : { cluster, readOnly: true }
  }

  const resolve = (token: string): Effect.Effect<Resolved, KvError> => {
    if (known.has(token)) return Effect.succeed(resolved(token))
    return Effect.flatMap(Clock.currentTimeMillis, (now) =>
      listedAt !== undefined && now - listedAt < NOT_READ_ONLY_MS
        ? Effect.succeed(resolved(token))
        : Effect.map(listAll(now), () => resolved(token))
    )
  }

  const issue = (token: string): Effect.Effect<string, KvError> => {
    const readToken = derive(token)
    if (known.get(readToken) === token) return Effect.succeed(readToken)
    // Anything registered under the read-only token before it was issued goes: its listing is the cluster's.
    return writer.put(PREFIX + readToken, token).pipe(
      Effect.zipRight(writer.deletePrefix(`${readToken}/`)),
      Effect.map(() => {
        known.set(readToken, token)
        return readToken
      })
    )
  }

  return { resolve, issue }
}
