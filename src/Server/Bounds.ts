/**
 * The server's global bounds, so that an anonymous client cannot fill the
 * disk or the memory: total live entries and clusters (507), new clusters per
 * client address per minute (429), concurrent long-polls in total (503) and
 * per client address (429), concurrent connections (503, in `Listen.ts`).
 * Every refusal carries `Retry-After` and names the bound and its flag.
 *
 * - **Totals come from the store** (`StoreStats`), so with a shared etcd store
 *   they count every instance's entries. The store is asked at most once a
 *   second, by one request at a time: the others that need a fresh count
 *   wait for that one (etcd counts without listing, `internal/etcd/stats.ts`);
 *   in between, this instance adds the entries and clusters it created itself. Several instances may therefore
 *   overshoot a total by what the others create within a second.
 * - **Rates and concurrency are per instance**: each instance has its own
 *   token buckets, connections and long-polls.
 * - A new cluster is the first registration into a token without entries,
 *   or `POST /v1/clusters`. Refreshes and reads are never refused by these
 *   bounds, so existing clusters keep working when a total is reached.
 */
import { Clock, Deferred, Effect, FiberId } from "effect"
import type { KvError } from "../KvStore.js"
import * as Api from "./Api.js"
import { type Bound, type BoundsConfig, boundOf, limitOf } from "./Config.js"
import type * as Metrics from "./Metrics.js"

/** The answer past a bound: its status (`Config.BOUNDS`), `Retry-After`, and a message naming its flag. */
export const refusal = (
  bound: Bound,
  config: BoundsConfig,
  retryAfterSeconds: number,
  what: string
): Api.ApiResponse =>
  Api.error(
    boundOf(bound)!.status,
    `${what}: the server's bound --${boundOf(bound)!.flag} (${limitOf(config, bound)}) is reached; ` +
      `try again in ${retryAfterSeconds}s. Existing clusters keep working (refreshes and reads pass)`,
    { "Retry-After": String(retryAfterSeconds) }
  )

export interface Bounds {
  /**
   * Checks a registration that created a key: `cluster` says whether it was the cluster's first.
   * A refusal, or undefined to keep it.
   */
  readonly admitEntry: (firstInCluster: boolean, client: string) => Effect.Effect<Bound | undefined, KvError>
  /** Charges `POST /v1/clusters` to the client's bucket: the bound when refused. */
  readonly admitCreate: (client: string) => Effect.Effect<Bound | undefined>
  /** Seconds until the client's bucket has a token again. */
  readonly retryAfter: (bound: Bound, client: string) => number
}

const MINUTE = 60_000
/** How long the store's own count is trusted before it is asked again. */
const RECOUNT = 1_000
/** Buckets of clients not seen for this long are dropped (they are full by then). */
const IDLE = 2 * MINUTE

interface Totals {
  /** Counted just now (then it holds the entry just created already). */
  readonly fresh: boolean
  readonly entries: number
  readonly clusters: number | undefined
}

/** The store's count, recounted every RECOUNT, plus what this instance created since. */
const totalsCounter = (stats: Effect.Effect<Metrics.StoreStats, KvError>) => {
  let counted: { at: number; entries: number; clusters: number | undefined } | undefined
  let createdEntries = 0
  let createdClusters = 0
  /** The count in flight: every request that needs a fresh count waits for this one. */
  let counting: Deferred.Deferred<Metrics.StoreStats, KvError> | undefined
  const recount = (now: number) =>
    Effect.suspend(() => {
      if (counting !== undefined) return Deferred.await(counting)
      const done = Deferred.unsafeMake<Metrics.StoreStats, KvError>(FiberId.none)
      counting = done
      // A daemon, so a waiter that goes away (a closed connection) does not cancel the others' count.
      return stats.pipe(
        Effect.tap((s) =>
          Effect.sync(() => {
            counted = { at: now, entries: s.entries, clusters: s.clusters }
            createdEntries = 0
            createdClusters = 0
          })
        ),
        Effect.intoDeferred(done),
        Effect.ensuring(Effect.sync(() => (counting = undefined))),
        Effect.forkDaemon,
        Effect.zipRight(Deferred.await(done))
      )
    })
  /** Totals with the entry just created in them (a fresh count already holds it). */
  const totals = (now: number, first: boolean): Effect.Effect<Totals, KvError> => {
    if (counted !== undefined && now - counted.at < RECOUNT) {
      const base = counted
      return Effect.succeed({
        fresh: false,
        entries: base.entries + createdEntries + 1,
        clusters: base.clusters === undefined ? undefined : base.clusters + createdClusters + (first ? 1 : 0)
      })
    }
    return Effect.map(recount(now), (s) => ({ fresh: true, entries: s.entries, clusters: s.clusters }))
  }
  /** An admitted entry that the last count did not hold. */
  const created = (first: boolean) => {
    createdEntries++
    if (first) createdClusters++
  }
  return { totals, created }
}

/** New clusters per client: token buckets refilled continuously. */
const clusterBuckets = (config: BoundsConfig) => {
  const buckets = new Map<string, { tokens: number; at: number }>()
  const perMs = config.maxNewClustersPerMinute / MINUTE
  const bucketOf = (client: string, now: number) => {
    let bucket = buckets.get(client)
    if (bucket === undefined) {
      if (buckets.size > 100_000) {
        for (const [k, b] of buckets) if (now - b.at > IDLE) buckets.delete(k)
      }
      bucket = { tokens: config.maxNewClustersPerMinute, at: now }
      buckets.set(client, bucket)
    } else {
      bucket.tokens = Math.min(config.maxNewClustersPerMinute, bucket.tokens + (now - bucket.at) * perMs)
      bucket.at = now
    }
    return bucket
  }
  const take = (client: string, now: number): boolean => {
    const bucket = bucketOf(client, now)
    if (bucket.tokens < 1) return false
    bucket.tokens -= 1
    return true
  }
  /** Whole seconds until the client's bucket holds a token again. */
  const refillSeconds = (client: string) => {
    const bucket = buckets.get(client)
    const missing = bucket === undefined ? 0 : Math.max(0, 1 - bucket.tokens)
    return Math.max(1, Math.ceil(missing / perMs / 1000))
  }
  return { take, refillSeconds }
}

export const make = (
  config: BoundsConfig,
  stats: Effect.Effect<Metrics.StoreStats, KvError> | undefined,
  metrics: Metrics.Metrics
): Bounds => {
  const counter = stats === undefined ? undefined : totalsCounter(stats)
  const buckets = clusterBuckets(config)

  const refused = (bound: Bound) => {
    metrics.boundRefused(bound)
    return bound
  }

  const admitEntry = (first: boolean, client: string) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.map(
        counter === undefined
          ? Effect.succeed<Totals>({ fresh: false, entries: 0, clusters: undefined })
          : counter.totals(now, first),
        (t): Bound | undefined => {
          if (stats !== undefined && t.entries > config.maxTotalEntries) return refused("total_entries")
          if (first) {
            if (t.clusters !== undefined && t.clusters > config.maxClusters) return refused("clusters")
            if (!buckets.take(client, now)) return refused("new_clusters_per_minute")
            metrics.newCluster()
          }
          if (!t.fresh) counter?.created(first)
          return undefined
        }
      )
    )

  const admitCreate = (client: string) =>
    Effect.map(Clock.currentTimeMillis, (now): Bound | undefined => {
      if (!buckets.take(client, now)) return refused("new_clusters_per_minute")
      metrics.newCluster()
      return undefined
    })

  const retryAfter = (bound: Bound, client: string) => {
    const fixed = boundOf(bound)!.retryAfter
    return fixed === "refill" ? buckets.refillSeconds(client) : fixed
  }

  return { admitEntry, admitCreate, retryAfter }
}
