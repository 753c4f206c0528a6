/**
 * The server's bounds (`Bounds.ts`) applied to requests: which request is
 * checked against which bound, and the refusal it gets (5xx ones logged and
 * counted through `Failures`, like every 5xx).
 */
import { Effect } from "effect"
import type { KvError, KvStoreShape } from "../KvStore.js"
import type * as Api from "./Api.js"
import * as Bounds from "./Bounds.js"
import { BOUNDS, type Bound } from "./Config.js"
import type * as Failures from "./Failures.js"
import type * as Metrics from "./Metrics.js"
import type { ServerConfig } from "./Config.js"
import type { Answer } from "./Api.js"

export interface Deps {
  readonly config: ServerConfig
  readonly store: KvStoreShape
  readonly stats: Effect.Effect<Metrics.StoreStats, KvError> | undefined
  readonly metrics: Metrics.Metrics
  readonly failures: Failures.Failures
}

export const make = (deps: Deps) => {
  const { config, failures, metrics, store } = deps
  const bounds = Bounds.make(config, deps.stats, metrics)
  metrics.bounds(BOUNDS.map((row) => [row.label, config[row.key]] as const))

  const refuse = (bound: Bound, client: string, route: Api.RouteName, what: string) => {
    const answer: Answer = { ...Bounds.refusal(bound, config, bounds.retryAfter(bound, client), what), route }
    return answer.status >= 500
      ? Effect.as(failures.report(`bound_${bound}`, `${route}: ${what}`), answer)
      : Effect.succeed(answer)
  }

  /**
   * Whether `key`, just created, is its cluster's only entry: counted by the store where it can (a shared
   * store's count may not hold the key yet), else one list of the cluster. Off the heartbeat path.
   */
  const firstIn = (token: string, key: string): Effect.Effect<boolean, KvError> =>
    store.count !== undefined
      ? Effect.map(store.count(`${token}/`), (n) => n <= 1)
      : Effect.map(store.list(`${token}/`), (s) => s.pairs.length === 1 && s.pairs[0]!.key === key)

  /** A registration that created `key`: the cluster's first entry makes a new cluster. */
  const admitNew = (token: string, key: string, client: string): Effect.Effect<Answer | undefined, KvError> =>
    firstIn(token, key).pipe(
      Effect.flatMap((first) => bounds.admitEntry(first, client)),
      Effect.flatMap((bound) =>
        bound === undefined
          ? Effect.succeed(undefined)
          : refuse(
              bound,
              client,
              "register",
              bound === "total_entries"
                ? "the server holds as many entries as it may; this new entry was not added"
                : "no new cluster was made for this registration"
            )
      )
    )

  /** `POST /v1/clusters`: undefined to go ahead, or the refusal. */
  const admitCreate = (client: string): Effect.Effect<Answer | undefined> =>
    Effect.flatMap(bounds.admitCreate(client), (bound) =>
      bound === undefined
        ? Effect.succeed(undefined)
        : refuse(bound, client, "create", "too many new clusters from your address")
    )

  /** The long-poll bound a new one from `client` would pass, given how many wait now. */
  const longPollBound = (waiting: number, fromClient: number): Bound | undefined =>
    waiting >= config.maxLongPolls
      ? "long_polls"
      : fromClient >= config.maxLongPollsPerClient
        ? "long_polls_per_client"
        : undefined

  const refuseLongPoll = (bound: Bound, client: string) => {
    metrics.boundRefused(bound)
    return refuse(bound, client, "watch", "too many long-polls waiting")
  }

  return { admitNew, admitCreate, longPollBound, refuseLongPoll }
}
