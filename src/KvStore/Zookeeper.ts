/**
 * A ZooKeeper `KvStore` over `node-zookeeper-client`.
 *
 * - **Keys** `a/b/c` are znodes `/a/b/c`; missing parents are created as
 *   persistent znodes without data. `list(prefix)` and `watch(prefix)` cover
 *   the children of the prefix's directory (`a/b/` → `/a/b`; `a/b/x` → the
 *   children of `/a/b` whose name starts with `x`) that hold data, one level
 *   deep, as Swarm's libkv did. `deletePrefix` removes whole subtrees.
 * - **TTL.** A put with a TTL makes an EPHEMERAL znode owned by this store's
 *   session; one without makes a persistent znode. ZooKeeper has no per-key
 *   TTL: an ephemeral znode lives as long as the session, which ends when
 *   the client closes it or stops heart-beating (the client pings every third
 *   of the timeout) for `sessionTimeout`. The server clamps that timeout to
 *   2..20 ticks (4s..40s with the default tickTime=2000); the negotiated
 *   value is logged at the first put with a TTL when it differs from the one
 *   asked. While the process lives, it also removes a key itself when it is
 *   not put again within its TTL, so the KvStore contract holds either way.
 * - **Session expiry.** When the session expires (the client was cut off for
 *   longer than the timeout), a new client and session are made, and every
 *   ephemeral znode this store put (and did not delete) is created again.
 * - **Reconnection** is bounded: a handshake the server never answers is
 *   dropped and tried again (see `internal/zookeeper/guard.ts`).
 * - **TLS** is not available: the client library speaks plain TCP only.
 */
import { Config, type ConfigError, Duration, Effect, Layer, type Scope } from "effect"
import { KvError, KvStore, type KvStoreShape, type TlsFiles } from "../KvStore.js"
import * as Session from "../internal/zookeeper/session.js"
import * as Stats from "../internal/zookeeper/stats.js"
import * as Watch from "../internal/zookeeper/watch.js"
import * as Writes from "../internal/zookeeper/writes.js"

export interface ZookeeperConfig {
  /** `host:port` of each server. */
  readonly hosts: ReadonlyArray<string>
  /** The session timeout asked of ZooKeeper; entries put with a TTL are ephemeral and live as long as the session. */
  readonly sessionTimeout: Duration.DurationInput
  readonly tls?: TlsFiles
  /** Bound on each operation, including waiting for a connection. Default 5s. */
  readonly timeout?: Duration.DurationInput
}

export const DEFAULT_TIMEOUT = Duration.seconds(5)

/** Keys in the store, and clusters (top-level znodes with keys below them). */
export type ZookeeperStats = Stats.ZookeeperStats

export interface ZookeeperKvStore extends KvStoreShape {
  /**
   * Counted by reading every znode (a request each), within the timeout: for tools and metrics, not a hot
   * path. Expirations (ephemeral nodes of ended sessions) happen in ZooKeeper and are not counted here.
   */
  readonly stats: Effect.Effect<ZookeeperStats, KvError>
}

const invalid = (detail: string) => new KvError({ store: Session.STORE, reason: "Invalid", detail })

export const make = (config: ZookeeperConfig): Effect.Effect<ZookeeperKvStore, KvError, Scope.Scope> =>
  Effect.gen(function* () {
    if (config.tls !== undefined) {
      return yield* invalid(
        "ZooKeeper over TLS is not supported (node-zookeeper-client speaks plain TCP only): " +
          "drop kv.cacertfile/kv.certfile/kv.keyfile, or reach ZooKeeper through a TLS tunnel"
      )
    }
    if (config.hosts.length === 0) return yield* invalid("no ZooKeeper server given")
    const timeout = Duration.decode(config.timeout ?? DEFAULT_TIMEOUT)
    const session = yield* Session.make({
      hosts: config.hosts,
      sessionTimeout: Math.max(1000, Math.round(Duration.toMillis(Duration.decode(config.sessionTimeout)))),
      timeout
    })
    const writes = Writes.make(session)
    const reads = Watch.make(session)
    return { ...writes, list: reads.list, watch: reads.watch, stats: Stats.make(session), timeout }
  })

export const layer = (config: ZookeeperConfig): Layer.Layer<KvStore, KvError> =>
  Layer.scoped(KvStore, make(config))

/** `layer` from `Config`, in the style of `SqliteClient.layerConfig`. */
export const layerConfig = (
  config: Config.Config.Wrap<ZookeeperConfig>
): Layer.Layer<KvStore, KvError | ConfigError.ConfigError> =>
  Layer.scoped(KvStore, Effect.flatMap(Config.unwrap(config), make))
