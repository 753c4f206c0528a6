/** A metrics snapshot in the Prometheus text format (version 0.0.4), for `GET /metrics`. */
import { BUCKETS, type Snapshot } from "./Metrics.js"

const escapeLabel = (value: string) => value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"')

/** Appends the lines of one metric family. */
type Out = (
  name: string,
  type: "counter" | "gauge" | "histogram",
  help: string,
  lines: ReadonlyArray<string>
) => void

const requests = (out: Out, s: Snapshot) => {
  out(
    "swarm_discovery_requests_total",
    "counter",
    "HTTP requests answered, by route and status.",
    s.routes.flatMap(({ route, statuses }) =>
      statuses.map(
        ([status, n]) =>
          `swarm_discovery_requests_total{route="${escapeLabel(route)}",status="${status}"} ${n}`
      )
    )
  )
  const name = "swarm_discovery_request_duration_seconds"
  out(
    name,
    "histogram",
    'Time from a request\'s arrival to its answer (long-polls are the route "watch").',
    s.routes.flatMap(({ route, buckets, sum, count }) => {
      const r = escapeLabel(route)
      return [
        ...buckets.map((n, i) => `${name}_bucket{route="${r}",le="${BUCKETS[i]}"} ${n}`),
        `${name}_bucket{route="${r}",le="+Inf"} ${count}`,
        `${name}_sum{route="${r}"} ${sum}`,
        `${name}_count{route="${r}"} ${count}`
      ]
    })
  )
}

const registrations = (out: Out, s: Snapshot) => {
  out(
    "swarm_discovery_registrations_total",
    "counter",
    'Accepted registrations: result="created" for a new entry, "updated" for a refresh.',
    [
      `swarm_discovery_registrations_total{result="created"} ${s.registrations.created}`,
      `swarm_discovery_registrations_total{result="updated"} ${s.registrations.updated}`
    ]
  )
  out("swarm_discovery_deregistrations_total", "counter", "Entries removed by DELETE requests.", [
    `swarm_discovery_deregistrations_total ${s.deregistrations}`
  ])
  out(
    "swarm_discovery_refused_registrations_total",
    "counter",
    "Registrations refused because the cluster already holds --max-entries entries.",
    [`swarm_discovery_refused_registrations_total{reason="limit"} ${s.refusedAtLimit}`]
  )
}

const load = (out: Out, s: Snapshot) => {
  out(
    "swarm_discovery_server_errors_total",
    "counter",
    "5xx answers by cause (store_unavailable, store_timeout, internal, ...); each cause is also logged, rate-limited.",
    s.failures.map(([cause, n]) => `swarm_discovery_server_errors_total{cause="${escapeLabel(cause)}"} ${n}`)
  )
  out("swarm_discovery_watchers", "gauge", "Long-poll requests waiting right now.", [
    `swarm_discovery_watchers ${s.watchers}`
  ])
  if (s.connections !== undefined)
    out("swarm_discovery_connections", "gauge", "Open client connections (see --max-connections).", [
      `swarm_discovery_connections ${s.connections}`
    ])
  out(
    "swarm_discovery_new_clusters_total",
    "counter",
    "New clusters admitted: first registrations into an empty token, and POST /v1/clusters.",
    [`swarm_discovery_new_clusters_total ${s.newClusters}`]
  )
  out(
    "swarm_discovery_bound_limit",
    "gauge",
    "The server's configured bounds (swarm serve --max-* flags).",
    s.bounds.map(({ bound, limit }) => `swarm_discovery_bound_limit{bound="${bound}"} ${limit}`)
  )
  out(
    "swarm_discovery_bound_refusals_total",
    "counter",
    "Requests refused because a bound was reached (429, 503 or 507 with Retry-After).",
    s.bounds.map(({ bound, refused }) => `swarm_discovery_bound_refusals_total{bound="${bound}"} ${refused}`)
  )
}

const store = (out: Out, s: Snapshot) => {
  if (s.store === undefined) return
  const { clusters, entries, expirations, expirySeconds } = s.store
  out("swarm_discovery_entries", "gauge", "Live entries over all clusters.", [
    `swarm_discovery_entries ${entries}`
  ])
  if (clusters !== undefined)
    out("swarm_discovery_clusters", "gauge", "Clusters with at least one live entry.", [
      `swarm_discovery_clusters ${clusters}`
    ])
  if (expirations !== undefined)
    out("swarm_discovery_expirations_total", "counter", "Entries removed because their TTL ran out.", [
      `swarm_discovery_expirations_total ${expirations}`
    ])
  if (expirySeconds !== undefined)
    out("swarm_discovery_expiry_seconds_total", "counter", "Time the store spent deleting expired entries.", [
      `swarm_discovery_expiry_seconds_total ${expirySeconds}`
    ])
}

const proc = (out: Out, s: Snapshot) => {
  out("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", [
    `process_resident_memory_bytes ${s.residentBytes}`
  ])
  out("process_start_time_seconds", "gauge", "Start time of the process since the Unix epoch, in seconds.", [
    `process_start_time_seconds ${s.startedAt}`
  ])
}

export const render = (snapshot: Snapshot): string => {
  const lines: Array<string> = []
  const out: Out = (name, type, help, family) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...family)
  }
  for (const section of [requests, registrations, load, store, proc]) section(out, snapshot)
  return lines.join("\n") + "\n"
}
