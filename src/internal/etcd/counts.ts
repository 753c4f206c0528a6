/**
 * Keys per prefix (a cluster's entries), for the checks a new key must pass,
 * without one etcd count per new key.
 *
 * Every new entry asks twice (its cluster's `--max-entries` bound before the
 * write, and "first in its cluster?" after it): at a thousand new entries a
 * second that was two thousand etcd requests, as many as the writes.
 *
 * - **While the totals watch follows** (`stats.ts`), a cluster's count is its
 *   tally: no etcd request, behind etcd by the watch's delay (milliseconds),
 *   this instance's own creates counted at once.
 * - **Otherwise** (not loaded yet, counting again, or a prefix that is not one
 *   cluster) etcd's count of a prefix is kept for `FRESH` and moved by this
 *   store's own creates and deletes since. What another instance wrote in the
 *   last `FRESH` is missed, and expiries are not seen until the next count.
 *
 * Either is trusted, when a bound is checked, only below half that bound;
 * nearer the bound etcd counts (one count per prefix at a time, shared), so a
 * bound is exact where it matters.
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

/** A cluster's count kept by a watch (`Stats.Totals`). */
export interface Watched {
  /** Keys in `cluster`; undefined while the watch is not following. */
  readonly inCluster: (cluster: string) => number | undefined
  /** This store created `key`. */
  readonly created: (key: string) => void
}

/** The cluster a prefix is all of (`abc/`), if it is one. */
const clusterPrefix = (prefix: string): string | undefined =>
  prefix.indexOf("/") === prefix.length - 1 && prefix.length > 1 ? prefix.slice(0, -1) : undefined

export const make = (
  countInEtcd: (prefix: string) => Effect.Effect<number, KvError>,
  watched?: Watched
): Counts => {
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

  const count = (prefix: string, max?: number): Effect.Effect<number, KvError> =>
    Effect.suspend(() => {
      const cluster = clusterPrefix(prefix)
      const tallied = cluster === undefined ? undefined : watched?.inCluster(cluster)
      if (tallied !== undefined && (max === undefined || tallied < max / 2)) return Effect.succeed(tallied)
      return Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const k = known.get(prefix)
        const trusted = k !== undefined && now - k.at < fresh && (max === undefined || k.n < max / 2)
        return trusted ? Effect.succeed(k.n) : recount(prefix, now)
      })
    })

  const move = (key: string, by: number) => {
    const cluster = clusterOf(key)
    const k = cluster === undefined ? undefined : known.get(`${cluster}/`)
    if (k !== undefined) k.n = Math.max(0, k.n + by)
  }

  return {
    count,
    created: (key) => {
      move(key, 1)
      watched?.created(key)
    },
    removed: (key) => move(key, -1)
  }
}
