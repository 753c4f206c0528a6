/**
 * The discovery server's metrics, rendered in the Prometheus text format
 * (version 0.0.4) for `GET /metrics`.
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
  readonly counts: Array<number>
  sum: number
  count: number
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
  /** The configured bounds, by name (see `Bounds`). */
  readonly bounds: (limits: ReadonlyArray<readonly [string, number]>) => void
  readonly boundRefused: (bound: string) => void
  readonly newCluster: () => void
  readonly render: (stats: StoreStats | undefined) => string
}

const escapeLabel = (value: string) => value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"')

export interface Sources {
  /** 5xx answers by cause (see `Failures`). */
  readonly failures?: (() => ReadonlyMap<string, number>) | undefined
}

export const make = (sources: Sources = {}): Metrics => {
  /** Per route: answers by status, and the latency histogram. */
  const routes = new Map<string, { readonly statuses: Map<number, number>; readonly latency: Histogram }>()
  const registrations = { created: 0, updated: 0 }
  let deregistrations = 0
  let refusedLimit = 0
  let watching = () => 0
  let connections: (() => number) | undefined
  let limits: ReadonlyArray<readonly [string, number]> = []
  const boundRefusals = new Map<string, number>()
  let newClusters = 0
  const started = Date.now() / 1000

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
    // Non-cumulative here; render() accumulates.
    for (let i = 0; i < BUCKETS.length; i++) {
      if (seconds <= BUCKETS[i]!) {
        h.counts[i]!++
        break
      }
    }
  }

  const render = (stats: StoreStats | undefined): string => {
    const out: Array<string> = []
    const family = (name: string, type: string, help: string) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`)
    }
    family("swarm_discovery_requests_total", "counter", "HTTP requests answered, by route and status.")
    const sorted = [...routes].sort(([a], [b]) => (a < b ? -1 : 1))
    for (const [route, r] of sorted) {
      for (const [status, n] of [...r.statuses].sort(([a], [b]) => a - b)) {
        out.push(`swarm_discovery_requests_total{route="${escapeLabel(route)}",status="${status}"} ${n}`)
      }
    }
    family(
      "swarm_discovery_request_duration_seconds",
      "histogram",
      'Time from a request\'s arrival to its answer (long-polls are the route "watch").'
    )
    for (const [route, { latency: h }] of sorted) {
      const r = escapeLabel(route)
      let cumulative = 0
      for (let i = 0; i < BUCKETS.length; i++) {
        cumulative += h.counts[i]!
        out.push(
          `swarm_discovery_request_duration_seconds_bucket{route="${r}",le="${BUCKETS[i]}"} ${cumulative}`
        )
      }
      out.push(`swarm_discovery_request_duration_seconds_bucket{route="${r}",le="+Inf"} ${h.count}`)
      out.push(`swarm_discovery_request_duration_seconds_sum{route="${r}"} ${h.sum}`)
      out.push(`swarm_discovery_request_duration_seconds_count{route="${r}"} ${h.count}`)
    }
    family(
      "swarm_discovery_registrations_total",
      "counter",
      'Accepted registrations: result="created" for a new entry, "updated" for a refresh.'
    )
    out.push(`swarm_discovery_registrations_total{result="created"} ${registrations.created}`)
    out.push(`swarm_discovery_registrations_total{result="updated"} ${registrations.updated}`)
    family("swarm_discovery_deregistrations_total", "counter", "Entries removed by DELETE requests.")
    out.push(`swarm_discovery_deregistrations_total ${deregistrations}`)
    family(
      "swarm_discovery_refused_registrations_total",
      "counter",
      "Registrations refused because the cluster already holds --max-entries entries."
    )
    out.push(`swarm_discovery_refused_registrations_total{reason="limit"} ${refusedLimit}`)
    family(
      "swarm_discovery_server_errors_total",
      "counter",
      "5xx answers by cause (store_unavailable, store_timeout, internal, ...); each cause is also logged, rate-limited."
    )
    const failures =
      sources.failures === undefined ? [] : [...sources.failures()].sort(([a], [b]) => (a < b ? -1 : 1))
    for (const [cause, n] of failures) {
      out.push(`swarm_discovery_server_errors_total{cause="${escapeLabel(cause)}"} ${n}`)
    }
    family("swarm_discovery_watchers", "gauge", "Long-poll requests waiting right now.")
    out.push(`swarm_discovery_watchers ${watching()}`)
    if (connections !== undefined) {
      family("swarm_discovery_connections", "gauge", "Open client connections (see --max-connections).")
      out.push(`swarm_discovery_connections ${connections()}`)
    }
    family(
      "swarm_discovery_new_clusters_total",
      "counter",
      "New clusters admitted: first registrations into an empty token, and POST /v1/clusters."
    )
    out.push(`swarm_discovery_new_clusters_total ${newClusters}`)
    family(
      "swarm_discovery_bound_limit",
      "gauge",
      "The server's configured bounds (swarm serve --max-* flags)."
    )
    for (const [bound, limit] of limits) out.push(`swarm_discovery_bound_limit{bound="${bound}"} ${limit}`)
    family(
      "swarm_discovery_bound_refusals_total",
      "counter",
      "Requests refused because a bound was reached (429, 503 or 507 with Retry-After)."
    )
    for (const [bound] of limits) {
      out.push(`swarm_discovery_bound_refusals_total{bound="${bound}"} ${boundRefusals.get(bound) ?? 0}`)
    }
    if (stats !== undefined) {
      family("swarm_discovery_entries", "gauge", "Live entries over all clusters.")
      out.push(`swarm_discovery_entries ${stats.entries}`)
      if (stats.clusters !== undefined) {
        family("swarm_discovery_clusters", "gauge", "Clusters with at least one live entry.")
        out.push(`swarm_discovery_clusters ${stats.clusters}`)
      }
      if (stats.expirations !== undefined) {
        family("swarm_discovery_expirations_total", "counter", "Entries removed because their TTL ran out.")
        out.push(`swarm_discovery_expirations_total ${stats.expirations}`)
      }
      if (stats.expirySeconds !== undefined) {
        family(
          "swarm_discovery_expiry_seconds_total",
          "counter",
          "Time the store spent deleting expired entries."
        )
        out.push(`swarm_discovery_expiry_seconds_total ${stats.expirySeconds}`)
      }
    }
    family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.")
    out.push(`process_resident_memory_bytes ${memoryUsage.rss()}`)
    family(
      "process_start_time_seconds",
      "gauge",
      "Start time of the process since the Unix epoch, in seconds."
    )
    out.push(`process_start_time_seconds ${started}`)
    return out.join("\n") + "\n"
  }

  return {
    observe,
    registered: (result) => {
      registrations[result]++
    },
    deregistered: (count) => {
      deregistrations += count
    },
    refused: () => {
      refusedLimit++
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
    render
  }
}
