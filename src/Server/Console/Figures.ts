/**
 * The `/metrics` figures the overview shows, read back from the Prometheus text the server renders,
 * so the overview shows whatever `/metrics` has without a second set of counters.
 */
import { boundOf } from "../Config.js"

export interface Sample {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g

export const parse = (text: string): Array<Sample> => {
  const out: Array<Sample> = []
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue
    const m = LINE.exec(line)
    if (m === null) continue
    const labels: Record<string, string> = {}
    for (const l of (m[2] ?? "").matchAll(LABEL)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, "$1")
    out.push({ name: m[1]!, labels, value: Number(m[3]) })
  }
  return out
}

export interface RouteFigures {
  readonly route: string
  readonly ok: number
  readonly clientErrors: number
  readonly serverErrors: number
  readonly count: number
  readonly seconds: number
}

export interface Summary {
  readonly requests: number
  readonly clientErrors: number
  readonly serverErrors: number
  readonly watchers: number | undefined
  readonly registrations: number
  readonly expirations: number | undefined
  readonly startedAt: number | undefined
  readonly routes: ReadonlyArray<RouteFigures>
}

const sum = (samples: ReadonlyArray<Sample>, name: string, keep: (s: Sample) => boolean = () => true) =>
  samples.reduce((n, s) => (s.name === name && keep(s) ? n + s.value : n), 0)

const one = (samples: ReadonlyArray<Sample>, name: string) => samples.find((s) => s.name === name)?.value

export const summarize = (samples: ReadonlyArray<Sample>): Summary => {
  const klass = (s: Sample) => Math.floor(Number(s.labels["status"]) / 100)
  const routes = new Map<
    string,
    { ok: number; clientErrors: number; serverErrors: number; count: number; seconds: number }
  >()
  const route = (name: string) => {
    let r = routes.get(name)
    if (r === undefined)
      routes.set(name, (r = { ok: 0, clientErrors: 0, serverErrors: 0, count: 0, seconds: 0 }))
    return r
  }
  for (const s of samples) {
    const name = s.labels["route"]
    if (name === undefined) continue
    if (s.name === "swarm_discovery_requests_total") {
      const r = route(name)
      const k = klass(s)
      if (k === 2) r.ok += s.value
      else if (k === 4) r.clientErrors += s.value
      else if (k === 5) r.serverErrors += s.value
    } else if (s.name === "swarm_discovery_request_duration_seconds_sum") route(name).seconds += s.value
    else if (s.name === "swarm_discovery_request_duration_seconds_count") route(name).count += s.value
  }
  const started = one(samples, "process_start_time_seconds")
  return {
    requests: sum(samples, "swarm_discovery_requests_total"),
    clientErrors: sum(samples, "swarm_discovery_requests_total", (s) => klass(s) === 4),
    serverErrors: sum(samples, "swarm_discovery_requests_total", (s) => klass(s) === 5),
    watchers: one(samples, "swarm_discovery_watchers"),
    registrations: sum(samples, "swarm_discovery_registrations_total"),
    expirations: one(samples, "swarm_discovery_expirations_total"),
    startedAt: started === undefined ? undefined : started * 1000,
    routes: [...routes]
      .map(([name, r]) => ({ route: name, ...r }))
      .sort((a, b) => (a.route < b.route ? -1 : 1))
  }
}

/** A bound (`swarm_discovery_bound_limit{bound}`) with how much of it is in use, where one number says it. */
export interface BoundFigure {
  readonly name: string
  readonly flag: string
  readonly limit: number
  readonly used?: number
  /** Requests refused at this bound since start. */
  readonly refused?: number
}

/** The server's bounds as `/metrics` lists them; `used` gives the figures the caller knows better. */
export const bounds = (
  samples: ReadonlyArray<Sample>,
  used: Readonly<Record<string, number | undefined>>
): Array<BoundFigure> => {
  const current: Record<string, number | undefined> = {
    connections: one(samples, "swarm_discovery_connections"),
    long_polls: one(samples, "swarm_discovery_watchers"),
    ...used
  }
  const refused = new Map(
    samples
      .filter((s) => s.name === "swarm_discovery_bound_refusals_total")
      .map((s) => [s.labels["bound"] ?? "", s.value])
  )
  return samples
    .filter((s) => s.name === "swarm_discovery_bound_limit" && s.labels["bound"] !== undefined)
    .map((s) => {
      const bound = s.labels["bound"]!
      const now = current[bound]
      const count = refused.get(bound)
      return {
        name: boundOf(bound)?.name ?? bound.replace(/_/g, " "),
        flag: `--${boundOf(bound)?.flag ?? `max-${bound.replace(/_/g, "-")}`}`,
        limit: s.value,
        ...(now === undefined ? {} : { used: now }),
        ...(count === undefined ? {} : { refused: count })
      }
    })
}
