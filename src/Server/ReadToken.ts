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
 *   → cluster token in the KvStore (no TTL). Resolving a token is one lookup
 *   there, cached in memory once found (the mapping never changes). That a
 *   token is *not* read-only is cached for `NOT_READ_ONLY_MS`, so the hot
 *   paths (a heartbeat, a list with the cluster's own token) skip the store
 *   lookup; a read-only token issued on another HA instance is honoured here
 *   within that time (one issued here, at once).
 * - `read-tokens/` is not a 32-hex token, so it can never be a cluster's prefix.
 *   Stores count its keys among their entries (one per read-only token issued).
 */
import { createHash } from "node:crypto"
import { Clock, Effect } from "effect"
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

const CACHE_MAX = 10_000
/** How long "this token is not read-only" is trusted without asking the store again. */
export const NOT_READ_ONLY_MS = 5_000

export const make = (store: KvStoreShape, writer: KvStoreShape = store): ReadTokens => {
  const known = new Map<string, string>()
  /** Tokens looked up and found not read-only, with when that stops being trusted. */
  const notReadOnly = new Map<string, number>()
  const remember = (readToken: string, cluster: string) => {
    if (known.size >= CACHE_MAX) known.clear()
    known.set(readToken, cluster)
  }

  const resolve = (token: string): Effect.Effect<Resolved, KvError> => {
    const cached = known.get(token)
    if (cached !== undefined) return Effect.succeed({ cluster: cached, readOnly: true })
    return Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const until = notReadOnly.get(token)
      if (until !== undefined && until > now) return Effect.succeed({ cluster: token, readOnly: false })
      return Effect.map(store.list(PREFIX + token), (snapshot) => {
        const cluster = snapshot.pairs.find((p) => p.key === PREFIX + token)?.value
        if (cluster === undefined) {
          if (notReadOnly.size >= CACHE_MAX) notReadOnly.clear()
          notReadOnly.set(token, now + NOT_READ_ONLY_MS)
          return { cluster: token, readOnly: false }
        }
        notReadOnly.delete(token)
        remember(token, cluster)
        return { cluster, readOnly: true }
      })
    })
  }

  const issue = (token: string): Effect.Effect<string, KvError> => {
    const readToken = derive(token)
    if (known.get(readToken) === token) return Effect.succeed(readToken)
    // Anything registered under the read-only token before it was issued goes: its listing is the cluster's.
    return writer.put(PREFIX + readToken, token).pipe(
      Effect.zipRight(writer.deletePrefix(`${readToken}/`)),
      Effect.map(() => {
        notReadOnly.delete(readToken)
        remember(readToken, token)
        return readToken
      })
    )
  }

  return { resolve, issue }
}
