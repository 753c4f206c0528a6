/**
 * The discovery server's metrics: counters kept here, read whole as a
 * structured `snapshot()`, which `GET /metrics` renders in the Prometheus
 * text format (`Prometheus.ts`) and the operator overview reads as is.
 *
 * Plain counters rather than Effect's `Metric`: they sit on every request's
 * hot path, and a Map increment costs nothing next to a fiber-ref lookup.
 * Store-level figures (entries, clusters, expirations) come from the store
 * when it can tell them (`StoreStats`); a store that cannot simply leaves
 * those series out.
 */
import { memoryUsage } from "node:process"

/** What a store may report about itself. */
export interface StoreStats {
  /** Live keys (entries). */
  readonly entries: number
  /** Non-empty clusters, when the store can count them cheaply. */
  readonly clusters?: number | undefined
  /** Keys removed because their TTL ran out, since the store opened (left out where the store cannot tell: etcd). */
  readonly expirations?: number | undefined
  /** Time spent expiring them, when the store measures it. */
  readonly expirySeconds?: number | undefined
}

/** Upper bounds, in seconds, of the latency histogram's buckets. */
export const BUCKETS: ReadonlyArray<number> = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300
]

interface Histogram {
  /** Per bucket, not cumulative (the snapshot accumulates). */
  readonly counts: Array<number>
  sum: number
  count: number
}

/** One route's figures: answers by status, and the latency histogram. */
export interface RouteSnapshot {
  readonly route: string
  /** `[status, answers]`, by status. */
  readonly statuses: ReadonlyArray<readonly [number, number]>
  /** Answers at or below each of `BUCKETS` (cumulative, as Prometheus has them). */
  readonly buckets: ReadonlyArray<number>
  /** Seconds over every answer. */
  readonly sum: number
  readonly count: number
}

/** Everything `/metrics` shows, at one moment. */
export interface Snapshot {
  /** By route name. Long-polls are the route "watch", so their latency includes their wait. */
  readonly routes: ReadonlyArray<RouteSnapshot>
  readonly registrations: { readonly created: number; readonly updated: number }
  readonly deregistrations: number
  /** Registrations refused at `--max-entries`. */
  readonly refusedAtLimit: number
  /** 5xx answers by cause, sorted by cause. */
  readonly failures: ReadonlyArray<readonly [string, number]>
  readonly watchers: number
  /** Open connections, when a listener reports them. */
  readonly connections: number | undefined
  readonly newClusters: number
  /** The configured bounds, by label (`Config.BOUNDS`), with the requests refused at each. */
  readonly bounds: ReadonlyArray<{ readonly bound: string; readonly limit: number; readonly refused: number }>
  readonly store: StoreStats | undefined
  readonly residentBytes: number
  /** Seconds since the Unix epoch. */
  readonly startedAt: number
}

export interface Metrics {
  /** Counts one answered request and its latency. */
  readonly observe: (route: string, status: number, seconds: number) => void
  readonly registered: (result: "created" | "updated") => void
  readonly deregistered: (count: number) => void
  readonly refused: (reason: "limit") => void
  /** Where the long-poll gauge reads from. */
  readonly watching: (source: () => number) => void
  /** Where the open-connections gauge reads from (the listener sets it). */
  readonly connected: (source: () => number) => void
  /** The configured bounds, by label (see `Config.BOUNDS`). */
  readonly bounds: (limits: ReadonlyArray<readonly [string, number]>) => void
  readonly boundRefused: (bound: string) => void
  readonly newCluster: () => void
  /** Every figure now; `Prometheus.render` turns it into `/metrics`. */
  readonly snapshot: (stats: StoreStats | undefined) => Snapshot
}

export interface Sources {
  /** 5xx answers by cause (see `Failures`). */
  readonly failures?: (() => ReadonlyMap<string, number>) | undefined
}

const byKey = <K extends string | number>(a: readonly [K, unknown], b: readonly [K, unknown]) =>
  a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0

const cumulative = (counts: ReadonlyArray<number>): Array<number> => {
  let total = 0
  return counts.map((n) => (total += n))
}

export const make = (sources: Sources = {}): Metrics => {
  const routes = new Map<string, { readonly statuses: Map<number, number>; readonly latency: Histogram }>()
  const registrations = { created: 0, updated: 0 }
  let deregistrations = 0
  let refusedAtLimit = 0
  let watching = () => 0
  let connections: (() => number) | undefined
  let limits: ReadonlyArray<readonly [string, number]> = []
  const boundRefusals = new Map<string, number>()
  let newClusters = 0
  const startedAt = Date.now() / 1000

  const observe = (route: string, status: number, seconds: number) => {
    let r = routes.get(route)
    if (r === undefined) {
      r = { statuses: new Map(), latency: { counts: BUCKETS.map(() => 0), sum: 0, count: 0 } }
      routes.set(route, r)
    }
    r.statuses.set(status, (r.statuses.get(status) ?? 0) + 1)
    const h = r.latency
    h.sum += seconds
    h.count++
    const i = BUCKETS.findIndex((le) => seconds <= le)
    if (i >= 0) h.counts[i]!++
  }

  const snapshot = (stats: StoreStats | undefined): Snapshot => ({
    routes: [...routes].sort(byKey).map(([route, r]) => ({
      route,
      statuses: [...r.statuses].sort(byKey),
      buckets: cumulative(r.latency.counts),
      sum: r.latency.sum,
      count: r.latency.count
    })),
    registrations: { ...registrations },
    deregistrations,
    refusedAtLimit,
    failures: sources.failures === undefined ? [] : [...sources.failures()].sort(byKey),
    watchers: watching(),
    connections: connections?.(),
    newClusters,
    bounds: limits.map(([bound, limit]) => ({ bound, limit, refused: boundRefusals.get(bound) ?? 0 })),
    store: stats,
    residentBytes: memoryUsage.rss(),
    startedAt
  })

  return {
    observe,
    registered: (result) => {
      registrations[result]++
    },
    deregistered: (count) => {
      deregistrations += count
    },
    refused: () => {
      refusedAtLimit++
    },
    watching: (source) => {
      watching = source
    },
    connected: (source) => {
      connections = source
    },
    bounds: (given) => {
      limits = given
    },
    boundRefused: (bound) => {
      boundRefusals.set(bound, (boundRefusals.get(bound) ?? 0) + 1)
    },
    newCluster: () => {
      newClusters++
    },
    snapshot
  }
}
