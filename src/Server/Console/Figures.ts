/**
 * The server's figures as the operator overview shows them, read from the metrics snapshot that
 * `/metrics` renders too, so the overview shows what `/metrics` has without a second set of counters.
 */
import { boundOf } from "../Config.js"
import type * as Metrics from "../Metrics.js"

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

const routeFigures = ({ count, route, statuses, sum }: Metrics.RouteSnapshot): RouteFigures => {
  const answers = (klass: number) =>
    statuses.reduce((n, [status, count]) => (Math.floor(status / 100) === klass ? n + count : n), 0)
  return { route, ok: answers(2), clientErrors: answers(4), serverErrors: answers(5), count, seconds: sum }
}

export const summarize = (snapshot: Metrics.Snapshot): Summary => {
  const routes = snapshot.routes.map(routeFigures)
  const total = (pick: (r: RouteFigures) => number) => routes.reduce((n, r) => n + pick(r), 0)
  return {
    requests: snapshot.routes.reduce((n, r) => r.statuses.reduce((m, [, count]) => m + count, n), 0),
    clientErrors: total((r) => r.clientErrors),
    serverErrors: total((r) => r.serverErrors),
    watchers: snapshot.watchers,
    registrations: snapshot.registrations.created + snapshot.registrations.updated,
    expirations: snapshot.store?.expirations,
    startedAt: snapshot.startedAt * 1000,
    routes
  }
}

/** A bound with how much of it is in use, where one number says it. */
export interface BoundFigure {
  readonly name: string
  readonly flag: string
  readonly limit: number
  readonly used?: number
  /** Requests refused at this bound since start. */
  readonly refused?: number
}

/** The server's bounds (`Config.BOUNDS`) with their use; `used` gives the figures the caller knows better. */
export const bounds = (
  snapshot: Metrics.Snapshot,
  used: Readonly<Record<string, number | undefined>>
): Array<BoundFigure> => {
  const current: Record<string, number | undefined> = {
    connections: snapshot.connections,
    long_polls: snapshot.watchers,
    ...used
  }
  return snapshot.bounds.map(({ bound, limit, refused }) => {
    const now = current[bound]
    const row = boundOf(bound)
    return {
      name: row?.name ?? bound.replace(/_/g, " "),
      flag: `--${row?.flag ?? `max-${bound.replace(/_/g, "-")}`}`,
      limit,
      ...(now === undefined ? {} : { used: now }),
      refused
    }
  })
}
