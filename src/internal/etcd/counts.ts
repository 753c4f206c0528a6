/**
 * Keys per prefix (a cluster's entries), for the checks a new key must pass,
 * without one etcd count per new key.
 *
 * Every new entry asks twice (its cluster's `--max-entries` bound before the
 * write, and "first in its cluster?" after it): at a thousand new entries a
 * second that was two thousand etcd requests, as many as the writes. Here
 * etcd's count of a prefix is kept for `FRESH` and moved by this store's own
 * creates and deletes since. It is trusted while it is fresh and, when a
 * bound is checked, below half that bound; nearer the bound etcd counts
 * again (one count per prefix at a time, shared). So a bound is exact where
 * it matters, and what another instance wrote in the last `FRESH` is missed
 * only while a cluster is far from its bound. Expiries in etcd are not seen
 * until the next count: a cluster that emptied may still count as non-empty
 * for `FRESH`.
 */
import { Clock, Deferred, Duration, Effect } from "effect"
import type { KvError } from "../../KvStore.js"
import { clusterOf } from "../kvPairs.js"

/** How long etcd's count of a prefix stands in for it. */
export const FRESH = Duration.seconds(10)
/** Prefixes kept at most; older ones go first when full. */
const MAX_PREFIXES = 10_000

interface Known {
  n: number
  readonly at: number
}

export interface Counts {
  /** Keys under `prefix`; with `max`, exact (etcd's) whenever the count may be near it. */
  readonly count: (prefix: string, max?: number) => Effect.Effect<number, KvError>
  /** This store created `key` (a `cluster/…` key moves its cluster's count). */
  readonly created: (key: string) => void
  /** This store deleted `key`. */
  readonly removed: (key: string) => void
}

export const make = (countInEtcd: (prefix: string) => Effect.Effect<number, KvError>): Counts => {
  const fresh = Duration.toMillis(FRESH)
  const known = new Map<string, Known>()
  const counting = new Map<string, Deferred.Deferred<number, KvError>>()

  const evict = (now: number) => {
    for (const [prefix, k] of known) if (now - k.at >= fresh) known.delete(prefix)
    if (known.size >= MAX_PREFIXES) known.clear()
  }

  /** etcd's count, one at a time per prefix: concurrent askers share it. */
  const recount = (prefix: string, now: number): Effect.Effect<number, KvError> => {
    const running = counting.get(prefix)
    if (running !== undefined) return Deferred.await(running)
    return Effect.flatMap(Deferred.make<number, KvError>(), (done) => {
      counting.set(prefix, done)
      return countInEtcd(prefix).pipe(
        Effect.tap((n) =>
          Effect.sync(() => {
            if (known.size >= MAX_PREFIXES) evict(now)
            known.set(prefix, { n, at: now })
          })
        ),
        Effect.exit,
        Effect.flatMap((exit) => Effect.zipRight(Deferred.done(done, exit), exit)),
        Effect.ensuring(Effect.sync(() => counting.delete(prefix)))
      )
    })
  }

  const count = (prefix: string, max?: number) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const k = known.get(prefix)
      const trusted = k !== undefined && now - k.at < fresh && (max === undefined || k.n < max / 2)
      return trusted ? Effect.succeed(k.n) : recount(prefix, now)
    })

  const move = (key: string, by: number) => {
    const cluster = clusterOf(key)
    const k = cluster === undefined ? undefined : known.get(`${cluster}/`)
    if (k !== undefined) k.n = Math.max(0, k.n + by)
  }

  return { count, created: (key) => move(key, 1), removed: (key) => move(key, -1) }
}
