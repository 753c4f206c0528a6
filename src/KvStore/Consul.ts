/**
 * A `KvStore` over Consul's HTTP API: the KV endpoints, transactions and
 * sessions for TTLs, and blocking queries for watches. Tried against a real
 * Consul 1.10 agent (before writes became transactions); CI runs against an
 * in-process double that models it (test/support/consulDouble.ts).
 *
 * - **HTTP.** Requests go through @effect/platform's `HttpClient`. `make`/`layer`
 *   use @effect/platform-node's undici client, whose agent carries the TLS files;
 *   `makeWithHttpClient`/`layerWithHttpClient` take the client from the context,
 *   so it can be traced, wrapped or replaced (TLS is then that client's business).
 * - **TTL.** A put with a `ttl` locks the key with a session that has a TTL
 *   and `Behavior: "delete"`, as libkv did, in one transaction that also reads
 *   the key (`PUT /v1/txn`: `get-tree` then `lock`), so watchers hear of it
 *   after one round trip; the session's renewal follows. That transaction is
 *   modelled from Consul's sources, not yet tried against a real agent.
 *   Consul invalidates a session between its TTL and twice its TTL after the
 *   last renewal, so the session TTL is half the requested one: the key
 *   vanishes between ttl/2 and ttl after its last put.
 *   Consul accepts session TTLs from 10s to 24h, so a ttl under 20s lives 10s–20s.
 * - **Refreshes.** A put of the value we last wrote to a key, which Consul still
 *   holds under our session, only renews the session: nothing is written, so
 *   no watcher wakes for a heartbeat (one round trip: the read and the renewal
 *   go together).
 * - **Sessions.** One per distinct TTL, renewed by every put that uses it,
 *   re-created when Consul has invalidated it, created with `LockDelay: 0s` so a
 *   lapsed key can be re-acquired at once. Closing the store's scope destroys
 *   them, which deletes their keys (a graceful leave).
 * - **Reads.** A missing key or an empty prefix is a 404 from Consul: empty, not an error.
 * - **Errors.** Transport failures, 5xx and 429 are `Unavailable`; an operation
 *   (put, delete, list: one to five requests) not done within `requestTimeout`
 *   is `Timeout`; any other status, an undecodable or
 *   oversized body is `BadResponse`. Each detail names the Consul address, and
 *   the cause is kept.
 * - Keys lose any leading `/`, which Consul rejects. Consul 1.21.5 briefly
 *   rejected `:` in keys, which Swarm's `host:port` layout needs
 *   (hashicorp/consul#22822, lifted again by #22939): avoid that release.
 */
import { HttpClient } from "@effect/platform"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Undici from "@effect/platform-node/Undici"
import { Config, type ConfigError, Duration, Effect, Layer, Schedule, type Scope } from "effect"
import * as Client from "../internal/consul/client.js"
import * as Endpoint from "../internal/consul/endpoint.js"
import * as Kv from "../internal/consul/kv.js"
import * as Sessions from "../internal/consul/sessions.js"
import * as Watch from "../internal/consul/watch.js"
import * as Writes from "../internal/consul/writes.js"
import * as Tls from "../internal/tlsFiles.js"
import { type KvError, KvStore, type KvStoreShape, type TlsFiles } from "../KvStore.js"

export interface ConsulConfig {
  /** `host:port` (http, or https when `tls` is set; the port defaults to 8500), or a full `http(s)://` URL. */
  readonly address: string
  /** PEM files: `kv.cacertfile`, `kv.certfile`, `kv.keyfile` (used by `make`/`layer`). */
  readonly tls?: TlsFiles
  /** An ACL token, sent as `X-Consul-Token`. */
  readonly token?: string
  /** Every operation (a put, delete or list, and a watch's first read) gives up after this long. Default 10s. */
  readonly requestTimeout?: Duration.DurationInput
  /** How long one blocking query waits. Default 30s. */
  readonly watchWait?: Duration.DurationInput
  /** Watch retry backoff: starts here and doubles... Default 100ms. */
  readonly retryBase?: Duration.DurationInput
  /** ...up to this. Default 5s. */
  readonly retryCap?: Duration.DurationInput
  /** The session name shown in Consul. Default `swarm-discovery`. */
  readonly sessionName?: string
  /** A larger answer fails as `BadResponse`. Default 32 MiB. */
  readonly maxBodyBytes?: number
}

/** Keys in the store, and clusters (distinct first path segments). */
export interface ConsulStats {
  readonly entries: number
  readonly clusters: number
}

export interface ConsulKvStore extends KvStoreShape {
  /**
   * Counted from one listing of every key (`?keys`): it costs a request that grows with the keys, so it is
   * for tools and metrics, not a hot path. Expirations happen in Consul and are not counted here.
   */
  readonly stats: Effect.Effect<ConsulStats, KvError>
}

const maxBodyBytes = (config: ConsulConfig) => config.maxBodyBytes ?? 32 * 1024 * 1024

/** The store over the `HttpClient` in the context. */
export const makeWithHttpClient = (
  config: ConsulConfig
): Effect.Effect<ConsulKvStore, KvError, HttpClient.HttpClient | Scope.Scope> =>
  Effect.gen(function* () {
    const endpoint = yield* Endpoint.resolve(config.address, config.tls)
    const requestTimeout = Duration.decode(config.requestTimeout ?? Duration.seconds(10))
    const client = Client.make(yield* HttpClient.HttpClient, endpoint, {
      token: config.token,
      requestTimeout,
      maxBodyBytes: maxBodyBytes(config)
    })
    const kv = Kv.make(client, Duration.decode(config.watchWait ?? Duration.seconds(30)), requestTimeout)
    const sessions = yield* Sessions.make(client, config.sessionName ?? "swarm-discovery")
    const retry = Schedule.exponential(config.retryBase ?? Duration.millis(100)).pipe(
      Schedule.union(Schedule.spaced(config.retryCap ?? Duration.seconds(5)))
    )

    const writes = Writes.make(client, kv, sessions)
    return {
      put: (key, value, options) => client.deadline(`a put of ${key}`, writes.put(key, value, options)),
      delete: (key) => client.deadline(`a delete of ${key}`, writes.delete(key)),
      deletePrefix: (prefix) => client.deadline(`a delete of ${prefix}`, writes.deletePrefix(prefix)),
      list: (prefix) => client.deadline(`a list of ${prefix}`, kv.list(Endpoint.normalize(prefix))),
      watch: (prefix) => Watch.watch(kv, client, Endpoint.normalize(prefix), retry),
      stats: client.deadline("a count of every key", kv.stats),
      timeout: requestTimeout
    } satisfies ConsulKvStore
  })

/** The store over @effect/platform-node's undici client, with an agent that carries the TLS files. */
export const make = (config: ConsulConfig): Effect.Effect<ConsulKvStore, KvError, Scope.Scope> =>
  Effect.gen(function* () {
    // Checked first, so an http:// address with TLS files fails before any file is read.
    yield* Endpoint.resolve(config.address, config.tls)
    const pem =
      config.tls === undefined
        ? {}
        : yield* Effect.mapError(Tls.read(config.tls), (error) => Endpoint.invalid(error.detail, error))
    // Undici rather than node:http: through HttpClient it costs about half the CPU per request (bench/RESULTS.md).
    const dispatcher = yield* Effect.acquireRelease(
      // undici reads a body whole and ignores `MaxBodySize`; its own bound cuts an oversized answer off.
      Effect.sync(() => new Undici.Agent({ connect: pem, maxResponseSize: maxBodyBytes(config) })),
      (agent) => Effect.promise(() => agent.destroy())
    )
    const http = NodeHttpClient.makeUndici(dispatcher)
    return yield* Effect.provideService(makeWithHttpClient(config), HttpClient.HttpClient, http)
  })

export const layer = (config: ConsulConfig): Layer.Layer<KvStore, KvError> =>
  Layer.scoped(KvStore, make(config))

/** `layer` from `Config`, in the style of `SqliteClient.layerConfig`. */
export const layerConfig = (
  config: Config.Config.Wrap<ConsulConfig>
): Layer.Layer<KvStore, KvError | ConfigError.ConfigError> =>
  Layer.scoped(KvStore, Effect.flatMap(Config.unwrap(config), make))

export const layerWithHttpClient = (
  config: ConsulConfig
): Layer.Layer<KvStore, KvError, HttpClient.HttpClient> => Layer.scoped(KvStore, makeWithHttpClient(config))
