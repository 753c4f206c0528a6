/**
 * The routes that change a cluster: register, the two deletes, and issuing
 * a read-only token. Read-only tokens get 403 on all of them.
 *
 * A read-only token's own prefix never holds entries (issuing it clears it),
 * so a registration into one is a *new* key: the check runs only when the
 * store says `created`, off the heartbeat path, and takes the key out again.
 */
import { Clock, Duration, Effect } from "effect"
import { redactToken } from "../DiscoveryUrl.js"
import { KvError, type KvStoreShape, type PutResult } from "../KvStore.js"
import * as Api from "./Api.js"
import * as Registration from "./Console/Registration.js"
import type * as Metrics from "./Metrics.js"
import type * as ReadToken from "./ReadToken.js"
import type { ServerConfig } from "./Config.js"
import type { Answer } from "./Api.js"

export interface Deps {
  readonly writer: KvStoreShape
  /** Answers to writes through an early writer wait for durability (see `Server.Early`). */
  readonly pending: boolean
  readonly config: ServerConfig
  readonly metrics: Metrics.Metrics
  readonly readTokens: ReadToken.ReadTokens
  readonly storeProblem: (route: Api.RouteName, error: KvError) => Effect.Effect<Answer>
  /**
   * Decides on a registration that created a key (bounds): undefined to keep it, or the refusal
   * (the key is then removed again).
   */
  readonly admitNew?: (
    token: string,
    key: string,
    client: string
  ) => Effect.Effect<Answer | undefined, KvError>
}

export const readOnlyProblem = (route: Api.RouteName, cluster: string): Answer => ({
  ...Api.error(
    403,
    `${cluster} is a read-only token: it can list and watch the cluster (GET), not register or delete; ` +
      `use the cluster's own token for that`
  ),
  route,
  cluster
})

const okOf =
  (pending: boolean) =>
  (route: Api.RouteName, cluster: string, body = "OK"): Answer => ({
    status: 200,
    contentType: Api.TEXT,
    body,
    route,
    cluster,
    pending
  })

/** 409 for a registration past --max-entries. */
const clusterFull = (config: ServerConfig, cluster: string, address: string): Answer => ({
  ...Api.error(
    409,
    `cluster ${cluster} is full: it already holds ${config.maxEntries} entries (the server's --max-entries); ` +
      `${address} was not added. Existing entries may still refresh; remove stale ones or raise the limit`
  ),
  route: "register",
  cluster
})

/**
 * `checks` within what is left of the store's bound on one operation, counted from `start`: a new key's
 * answer comes within that bound however many store steps its checks take (none for a local store).
 */
const withinBudget =
  ({ timeout, within }: Pick<KvStoreShape, "timeout" | "within">) =>
  <A>(start: number, checks: Effect.Effect<A, KvError>): Effect.Effect<A, KvError> =>
    timeout === undefined
      ? checks
      : Effect.flatMap(Clock.currentTimeMillis, (now) => {
          const left = Math.max(0, start + Duration.toMillis(timeout) - now)
          // The store's own deadline where it has one: no fiber forked per new entry.
          return within !== undefined
            ? within(left)(checks)
            : Effect.timeoutFail(checks, {
                duration: left,
                onTimeout: () =>
                  new KvError({
                    store: "server",
                    reason: "Timeout",
                    detail:
                      `a new entry's checks (read-only token, bounds) did not end within the store timeout ` +
                      `(${Duration.format(timeout)}) counted from the write`
                  })
              })
        })

/** A registration: the put with its TTL clamped, and the checks a new key must pass. */
const registering = (deps: Deps) => {
  const { config, metrics, readTokens, storeProblem, writer } = deps
  const ok = okOf(deps.pending)
  const bounded = withinBudget(writer)

  const clampTtl = (asked: number | undefined) =>
    Math.min(config.maxTtl, Math.max(config.minTtl, asked ?? config.defaultTtl))

  /** A new key: refused (and removed) for a read-only token or past a bound. */
  const admit = (token: string, key: string, cluster: string, client: string) =>
    Effect.flatMap(readTokens.resolve(token), (resolved) =>
      resolved.readOnly
        ? Effect.succeed<Answer | undefined>(readOnlyProblem("register", cluster))
        : deps.admitNew === undefined
          ? Effect.succeed(undefined)
          : deps.admitNew(token, key, client)
    ).pipe(
      Effect.flatMap((refusal) =>
        refusal === undefined ? Effect.succeed(refusal) : Effect.as(writer.delete(key), refusal)
      )
    )

  return (
    token: string,
    address: string,
    ttlMillis: number | undefined,
    client: string
  ): Effect.Effect<Answer> => {
    const cluster = redactToken(token)
    const ttl = clampTtl(ttlMillis)
    const key = `${token}/${address}`
    const accepted = (result: PutResult): Answer => {
      metrics.registered(result)
      return ok("register", cluster)
    }
    // The value carries the TTL for the web console; refreshes keep it equal (see Registration).
    const put = writer.put(key, Registration.encode(address, ttl), {
      ttl: Duration.millis(ttl),
      limit: { prefix: `${token}/`, max: config.maxEntries }
    })
    return Effect.flatMap(Clock.currentTimeMillis, (start) =>
      put.pipe(
        // One continuation for both outcomes: this is the hot path of every heartbeat.
        Effect.matchEffect({
          onSuccess: (result): Effect.Effect<Answer> =>
            result === "updated"
              ? Effect.succeed(accepted(result))
              : bounded(start, admit(token, key, cluster, client)).pipe(
                  Effect.map((refusal) => refusal ?? accepted(result)),
                  Effect.catchAll((error) => storeProblem("register", error))
                ),
          onFailure: (error): Effect.Effect<Answer> => {
            if (error.reason !== "LimitExceeded") return storeProblem("register", error)
            metrics.refused("limit")
            return Effect.succeed(clusterFull(config, cluster, address))
          }
        })
      )
    )
  }
}

/** The deletes and issuing a read-only token: for a cluster's own token only. */
const ownerOnly = (deps: Deps) => {
  const { metrics, readTokens, storeProblem, writer } = deps
  const ok = okOf(deps.pending)

  /** Runs `write` for a cluster's own token; a read-only one gets 403. */
  const writable = (
    route: Api.RouteName,
    token: string,
    write: (cluster: string) => Effect.Effect<Answer, KvError>
  ): Effect.Effect<Answer> => {
    const cluster = redactToken(token)
    return readTokens.resolve(token).pipe(
      Effect.flatMap((resolved) =>
        resolved.readOnly ? Effect.succeed(readOnlyProblem(route, cluster)) : write(cluster)
      ),
      Effect.catchAll((error) => storeProblem(route, error))
    )
  }

  const deleteCluster = (token: string) =>
    writable("delete_cluster", token, (cluster) =>
      Effect.map(writer.deletePrefix(`${token}/`), (n) => {
        metrics.deregistered(n)
        return ok("delete_cluster", cluster)
      })
    )

  const deleteEntry = (token: string, address: string) =>
    writable("delete_entry", token, (cluster) =>
      Effect.map(writer.delete(`${token}/${address}`), (existed): Answer => {
        if (!existed) {
          return {
            ...Api.error(404, `cluster ${cluster} has no entry ${address} (it may have expired already)`),
            route: "delete_entry",
            cluster
          }
        }
        metrics.deregistered(1)
        return ok("delete_entry", cluster)
      })
    )

  const readToken = (token: string) =>
    writable("read_token", token, (cluster) =>
      Effect.map(readTokens.issue(token), (readOnly) => ok("read_token", cluster, readOnly))
    )

  return { deleteCluster, deleteEntry, readToken }
}

export const make = (deps: Deps) => ({ register: registering(deps), ...ownerOnly(deps) })
