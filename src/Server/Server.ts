/**
 * The discovery server (`swarm serve`): the Hub v1 API and its extensions
 * (see `Api.ts`) as Effect handlers over any `KvStore`.
 *
 * Entry points:
 *
 * ```ts
 * // A listening server, closed with the scope (graceful: long-polls answer, in-flight requests finish).
 * listen(options: ListenOptions): Effect<Listening, ListenError, Scope>
 *   ListenOptions = ServerOptions & {
 *     host?: string                // default "127.0.0.1"; "::1" or "[::1]" for IPv6
 *     port?: number                // default 8375; 0 picks a free port
 *     tls?: { cert, key, ca?, verify? }   // PEM contents (string | Buffer); verify = mutual TLS
 *   }
 *   ServerOptions = {
 *     store: KvStoreShape          // e.g. MemoryKvStore.unsafeMake() or Sqlite.make(...)
 *     stats?: Effect<StoreStats, KvError>   // store figures for /metrics, when the store has them
 *     defaultTtl?, minTtl?, maxTtl?, maxWait?: Duration.DurationInput   // 180s, 1s, 1h, 5m
 *     maxEntries?: number          // per cluster, default 1000
 *     maxBody?: number             // bytes, default 4096
 *     early?: { store, whenDurable }  // SQLite: { store: sqlite.early, whenDurable: sqlite.whenDurable }
 *   }
 *   Listening = {
 *     url: string      // the service URL for clients, with /v1: "http://127.0.0.1:PORT/v1"
 *     origin: string   // without /v1: "http://127.0.0.1:PORT"
 *     host: string; port: number
 *     handler: Handler
 *   }
 *
 * // Without a socket (tests under TestClock): decode + handle one request.
 * makeHandler(options: ServerOptions): Effect<Handler, never, Scope>
 *   handler.handle(method, url, body): Effect<Answer>   // never fails; Answer = ApiResponse & { route }
 * ```
 *
 * Memory store for tests: `const store = MemoryKvStore.unsafeMake()`, then
 * `listen({ port: 0, store, stats: store.stats })`.
 *
 * The server touches the store only through the `KvStore` interface (plus
 * the optional `early` fast path), so any store (memory, SQLite, etcd) drops in. Keys are `<token>/<host:port>` with
 * the address and its TTL as the value (`Console/Registration.ts`); the cluster's index is the store's index for
 * the prefix `<token>/`.
 */
import { randomBytes } from "node:crypto"
import { Effect, Option, type Scope } from "effect"
import type { KvError, KvStoreShape } from "../KvStore.js"
import * as Admission from "./Admission.js"
import * as Api from "./Api.js"
import type { Answer } from "./Api.js"
import * as Answers from "./Answers.js"
import * as Config from "./Config.js"
import * as Console from "./Console/Console.js"
import * as Failures from "./Failures.js"
import type { Handler } from "./Handler.js"
import * as Listen from "./Listen.js"
import * as LongPoll from "./LongPoll.js"
import * as Metrics from "./Metrics.js"
import * as Prometheus from "./Prometheus.js"
import * as Reads from "./Reads.js"
import * as ReadToken from "./ReadToken.js"
import * as Writes from "./Writes.js"

export { ListenError, type TlsOptions } from "./Listen.js"
export type { Answer } from "./Api.js"
export type { HandleRequest, Handler } from "./Handler.js"
export type { StoreStats } from "./Metrics.js"

export interface ServerOptions extends Config.ConfigOptions {
  readonly store: KvStoreShape
  /** Store figures for `/metrics` (entries, clusters, expirations), when the store can tell them. */
  readonly stats?: Effect.Effect<Metrics.StoreStats, KvError> | undefined
  /**
   * A faster write path, when the store has one (SQLite's `early` and
   * `whenDurable`): writes return once applied, and the listener holds each
   * answer until `whenDurable` says the writes are committed. An answer is
   * never sent before its write is durable either way.
   */
  readonly early?: Early | undefined
  /** Turns on the operator overview (`/ui/`) and `/v1/admin/` behind this bearer token. */
  readonly adminToken?: string | undefined
}

export interface Early {
  readonly store: KvStoreShape
  readonly whenDurable: (callback: (error: KvError | undefined) => void) => void
}

/** A fresh token: 128 bits from the CSPRNG, 32 lowercase hex digits. */
export const newToken = (): string => randomBytes(16).toString("hex")

/** A store failure: logged and counted, answered without the store's detail. */
const storeProblemOf =
  (failures: Failures.Failures) =>
  (route: Api.RouteName, error: KvError): Effect.Effect<Answer> =>
    Effect.as(failures.report(Failures.storeCause(error), `${route}: ${error.message}`), {
      ...Failures.storeAnswer(error),
      route
    })

/** Holds an early write's answer until it is durable; a failed commit becomes a 503. */
const settleWith =
  (whenDurable: Handler["whenDurable"], storeProblem: Handler["storeProblem"]) =>
  (early: Answer): Effect.Effect<Answer> =>
    early.pending === true
      ? Effect.async<Answer>((resume) =>
          whenDurable((error) =>
            resume(
              error === undefined
                ? Effect.succeed({ ...early, pending: false })
                : storeProblem(early.route, error)
            )
          )
        )
      : Effect.succeed(early)

interface Routes {
  readonly admission: ReturnType<typeof Admission.make>
  readonly writes: ReturnType<typeof Writes.make>
  readonly reads: ReturnType<typeof Reads.make>
  readonly metrics: Metrics.Metrics
  readonly stats: ServerOptions["stats"]
  readonly storeProblem: Handler["storeProblem"]
}

/** Answers a decoded Hub API request (the console's have their own routes). */
const routes =
  (deps: Routes) =>
  (request: Api.ApiRequest, client: string): Effect.Effect<Answer> => {
    const { admission, metrics, reads, storeProblem, writes } = deps
    switch (request._tag) {
      case "Create":
        return Effect.flatMap(admission.admitCreate(client), (refused) =>
          refused === undefined
            ? Effect.sync((): Answer => ({ ...Api.ok(newToken()), route: "create" }))
            : Effect.succeed(refused)
        )
      case "Health":
        return Effect.succeed({ ...Api.ok(), route: "healthz" })
      case "Metrics": {
        const render = (stats: Metrics.StoreStats | undefined): Answer => ({
          ...Api.ok(Prometheus.render(metrics.snapshot(stats)), Api.PROMETHEUS),
          route: "metrics"
        })
        return deps.stats === undefined
          ? Effect.sync(() => render(undefined))
          : deps.stats.pipe(
              Effect.map(render),
              Effect.catchAll((error) => storeProblem("metrics", error))
            )
      }
      case "Register":
        return writes.register(
          request.token,
          request.address,
          Option.getOrUndefined(request.ttlMillis),
          client
        )
      case "List": {
        const run = Option.match(request.wait, {
          onNone: () => reads.list(request.token),
          onSome: ({ index, waitMillis }) => reads.longPoll(request.token, index, waitMillis, client)
        })
        return Effect.catchAll(run, (error) => storeProblem(Api.routeOf(request), error))
      }
      case "DeleteCluster":
        return writes.deleteCluster(request.token)
      case "DeleteEntry":
        return writes.deleteEntry(request.token, request.address)
      case "ReadToken":
        return writes.readToken(request.token)
    }
  }

export const makeHandler = (options: ServerOptions): Effect.Effect<Handler, never, Scope.Scope> =>
  Effect.gen(function* () {
    const store = options.store
    // Writes go through the early view when there is one; their answers are then marked `pending`.
    const writer = options.early?.store ?? store
    const pending = options.early !== undefined
    const config = Config.resolveConfig(options)
    const failures = Failures.make()
    const metrics = Metrics.make({ failures: failures.counts })
    const storeProblem = storeProblemOf(failures)
    const answerOf = Answers.make()

    const readTokens = ReadToken.make(store, writer)
    const admission = Admission.make({ config, store, stats: options.stats, metrics, failures })
    const writes = Writes.make({
      writer,
      pending,
      config,
      metrics,
      readTokens,
      storeProblem,
      admitNew: admission.admitNew
    })

    const longPolls = yield* LongPoll.make({
      store,
      answerOf: (snapshot, cluster) => answerOf(snapshot, "watch", cluster),
      storeProblem: (error) => storeProblem("watch", error)
    })
    metrics.watching(longPolls.size)

    const reads = Reads.make({ store, config, readTokens, longPolls, admission, answerOf })

    const answer = routes({ admission, writes, reads, metrics, stats: options.stats, storeProblem })

    const web = Console.make({
      store,
      stats: options.stats,
      config,
      metrics,
      adminToken: options.adminToken,
      resolve: readTokens.resolve,
      storeProblem
    })

    /** Decodes and answers one request; an early write's answer comes back `pending` (see `settle`). */
    const handleEarly = (
      method: string,
      url: string,
      body: string,
      authorization?: string,
      client = ""
    ): Effect.Effect<Answer> => {
      // The web console and the admin API (src/Server/Console/) have their own routes.
      if (Console.owns(url)) return web.handle(method, url, authorization)
      const request = Api.parse(method, url, body)
      if (Api.isProblem(request)) return Effect.succeed({ ...Api.fromProblem(request), route: request.route })
      return answer(request, client)
    }

    const whenDurable = options.early?.whenDurable ?? ((callback) => callback(undefined))

    const settle = settleWith(whenDurable, storeProblem)

    const handle = (
      method: string,
      url: string,
      body: string,
      authorization?: string,
      client = ""
    ): Effect.Effect<Answer> => Effect.flatMap(handleEarly(method, url, body, authorization, client), settle)

    return {
      config,
      metrics,
      failures,
      storeProblem,
      handle,
      handleEarly,
      tryLongPoll: reads.tryLongPoll,
      whenDurable,
      drain: longPolls.drain,
      resolveToken: readTokens.resolve
    }
  })

export interface ListenOptions extends ServerOptions {
  readonly host?: string | undefined
  readonly port?: number | undefined
  readonly tls?: Listen.TlsOptions | undefined
}

export interface Listening {
  /** The service URL clients use (`swarm create --url`, `SWARM_TOKEN_URL`): `http(s)://host:port/v1`. */
  readonly url: string
  /** `http(s)://host:port`. */
  readonly origin: string
  readonly host: string
  readonly port: number
  readonly handler: Handler
}

/**
 * Starts a server; it stops when the scope closes: no new connections,
 * long-polls answered at once, in-flight requests finished.
 */
export const listen = (options: ListenOptions): Effect.Effect<Listening, Listen.ListenError, Scope.Scope> =>
  Effect.gen(function* () {
    const handler = yield* makeHandler(options)
    const bound = yield* Listen.serve(handler, {
      host: options.host ?? Config.DEFAULT_HOST,
      port: options.port ?? Config.DEFAULT_PORT,
      tls: options.tls
    })
    return { ...bound, handler }
  })
