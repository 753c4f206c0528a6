/** What the console and its admin API need from the server they are part of. */
import type { Effect } from "effect"
import type { KvError, KvStoreShape } from "../../KvStore.js"
import type * as Api from "../Api.js"
import type * as Metrics from "../Metrics.js"
import type { ServerConfig } from "../Config.js"
import type { Answer } from "../Api.js"

export interface Context {
  readonly store: KvStoreShape
  readonly stats?: Effect.Effect<Metrics.StoreStats, KvError> | undefined
  readonly config: ServerConfig
  readonly metrics: Metrics.Metrics
  /** The operator's token; without one the overview and `/v1/admin/` answer 404. */
  readonly adminToken?: string | undefined
  /**
   * What a token from a URL stands for: the cluster's own token, and whether the given one is a
   * read-only token. Without it every token is a cluster's own.
   */
  readonly resolve?:
    | ((token: string) => Effect.Effect<{ readonly cluster: string; readonly readOnly: boolean }, KvError>)
    | undefined
  /** The server's 503 for a failing store (logged and counted like every 5xx). */
  readonly storeProblem: (route: Api.RouteName, error: KvError) => Effect.Effect<Answer>
}
