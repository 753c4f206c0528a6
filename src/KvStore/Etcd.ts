/**
 * An etcd v3 `KvStore` over the `etcd3` library (gRPC).
 *
 * - **TTL.** By default one lease per live key, kept alive by each refresh: a heartbeat
 *   costs a keep-alive (and a read of the key when the totals watch cannot
 *   vouch that it is unchanged), no raft write, through whichever server of
 *   an HA group; a new key costs a put
 *   (its lease granted ahead under load). A key vanishes its TTL after the
 *   last put (whole seconds, rounded up; etcd raises it to its minimum, about
 *   2s by default), expired once, in etcd. A put without a TTL detaches the
 *   key from its lease. See `internal/etcd/leases.ts`; `leases: "shared"` puts
 *   keys on leases shared by time instead (`internal/etcd/sharedLeases.ts`).
 * - **Totals** (`stats`) are kept in memory by one watch of the prefix
 *   (`internal/etcd/stats.ts`), a cluster's count for the checks of a new
 *   key too once that watch follows (`internal/etcd/counts.ts`).
 * - **Index.** `list` and every watch snapshot carry an etcd revision: the
 *   header revision of the range, or of the watch response that carried the
 *   change. It only grows; unrelated writes elsewhere in etcd bump it too.
 * - **Watch** resumes from the last applied revision after the stream breaks,
 *   and lists again after a compaction (`internal/etcd/watch.ts`).
 * - **Time bounds.** Every operation is bounded by `timeout`, and a dead
 *   endpoint is skipped (`internal/etcd/connection.ts`).
 */
import { Clock, Config, type ConfigError, Duration, Effect, Layer, type Scope } from "effect"
import { KvError, KvStore, type KvSnapshot, type KvStoreShape, type TlsFiles } from "../KvStore.js"
import * as Compactor from "../internal/etcd/compactor.js"
import * as Connection from "../internal/etcd/connection.js"
import * as Counts from "../internal/etcd/counts.js"
import * as Followed from "../internal/etcd/followed.js"
import * as KeepAlive from "../internal/etcd/keepAlive.js"
import * as Leases from "../internal/etcd/leases.js"
import * as LeaseModeRecord from "../internal/etcd/leaseModeRecord.js"
import * as ListIndex from "../internal/etcd/listIndex.js"
import * as Requests from "../internal/etcd/requests.js"
import * as SharedLeases from "../internal/etcd/sharedLeases.js"
import * as Stats from "../internal/etcd/stats.js"
import * as Watch from "../internal/etcd/watch.js"

export interface EtcdConfig {
  /** `host:port` of each endpoint (`http://`, or `https://` with `tls`), or full `http(s)://` URLs. */
  readonly endpoints: ReadonlyArray<string>
  readonly tls?: TlsFiles
  /** Every key is stored under `<prefix>/` (for `swarm serve --store etcd://h/prefix`). Default: none. */
  readonly prefix?: string
  /** Bound on each operation (and on each gRPC call). Default 5s. */
  readonly timeout?: Duration.DurationInput
  /**
   * How keys with a TTL hold their leases. `"per-key"` (the default): one lease per key, a heartbeat is a
   * keep-alive. `"shared"`: one lease per TTL per quarter second per instance, revoked by the store a TTL
   * after its last put; every put (heartbeats too) is a put committed in shared transactions; much cheaper
   * new keys (`internal/etcd/sharedLeases.ts`). Every instance sharing the etcd prefix must use the same: the first
   * to write records its mode under the prefix, and a store with the other has its puts refused
   * (`internal/etcd/leaseModeRecord.ts`).
   */
  readonly leases?: LeaseMode
  /**
   * Compacts etcd's history (all of it: compaction is etcd-wide) every so often, to the revision of one interval
   * earlier, one instance of a group at a time (`internal/etcd/compactor.ts`). For leases shared by time, whose
   * heartbeats are puts, over an etcd that does not compact itself. Default: never.
   */
  readonly compaction?: Duration.DurationInput
}

export type LeaseMode = LeaseModeRecord.LeaseMode

export const DEFAULT_TIMEOUT = Duration.seconds(5)

/** What `/metrics` shows of an etcd store: keys under the prefix, and clusters (first path segments). */
export type EtcdStats = Stats.EtcdStats

export interface EtcdKvStore extends KvStoreShape {
  /**
   * Keys and clusters under the prefix, counted once and then kept by a watch (`internal/etcd/stats.ts`):
   * they follow etcd within the watch's delay, expiries included.
   */
  readonly stats: Effect.Effect<EtcdStats, KvError>
  /**
   * Keys under a prefix: a cluster's from the totals watch while it follows (behind etcd by its delay, this
   * store's own creates counted at once), else etcd's count kept for a few seconds and moved by this store's
   * own writes (`internal/etcd/counts.ts`), which may miss other instances' writes and expiries that recent.
   */
  readonly count: (prefix: string) => Effect.Effect<number, KvError>
  /**
   * Records this store's lease mode under the prefix, or checks it is the one recorded there: fails `Invalid`
   * when another is (`internal/etcd/leaseModeRecord.ts`). Done once, before the first put at the latest.
   */
  readonly claimLeaseMode: Effect.Effect<void, KvError>
  readonly within: NonNullable<KvStoreShape["within"]>
}

export const make = (config: EtcdConfig): Effect.Effect<EtcdKvStore, KvError, Scope.Scope> =>
  Effect.gen(function* () {
    const timeout = Duration.decode(config.timeout ?? DEFAULT_TIMEOUT)
    const timeoutMs = Duration.toMillis(timeout)
    const conn = yield* Connection.make({
      endpoints: config.endpoints,
      ...(config.tls ? { tls: config.tls } : {}),
      ...(config.prefix !== undefined ? { prefix: config.prefix } : {}),
      timeout
    })
    // The totals watch tells the leases which keys changed, so a heartbeat rarely reads its key, and keeps
    // each cluster's count for the checks of a new key.
    const followed = Followed.make()
    const totals = yield* Stats.make(conn, followed)
    const counts = Counts.make(Requests.make(conn).count, totals)
    const mode = config.leases ?? "per-key"
    const shared = mode === "shared"
    const claimLeaseMode = yield* LeaseModeRecord.make(conn, mode)
    if (config.compaction !== undefined) yield* Compactor.run(conn, Duration.decode(config.compaction))
    const writes = shared
      ? yield* SharedLeases.make(conn, counts, followed)
      : yield* Leases.make(conn, yield* KeepAlive.make(conn), counts, followed)

    // Shared leases put at every heartbeat: their index must not follow etcd's revision (`listIndex.ts`).
    // `list` and every watch take it from one place, so no answer of this instance goes back.
    const indexOf: ListIndex.ListIndex = shared
      ? ListIndex.make()
      : (_prefix, _pairs, revision) => Number(revision)
    const rangeOf = (prefix: string) =>
      conn
        .call(`list ${prefix}`, () =>
          conn.client.kv.range({ ...conn.prefixRange(prefix), sort_order: "Ascend", sort_target: "Key" })
        )
        .pipe(
          Effect.map((res) => {
            const pairs = res.kvs
              .filter((kv) => !conn.isReserved(kv.key))
              .map((kv) => ({ key: conn.userKey(kv.key), value: kv.value.toString() }))
            const revision = BigInt(res.header.revision)
            return { pairs, revision, index: indexOf(prefix, pairs, revision) }
          })
        )

    const list = (prefix: string) =>
      Effect.map(rangeOf(prefix), ({ pairs, index }): KvSnapshot => ({ pairs, index }))

    // From the leases themselves (whole seconds), so every instance sharing the etcd agrees.
    const expiries = (prefix: string): Effect.Effect<ReadonlyMap<string, number>, KvError> =>
      Effect.gen(function* () {
        const res = yield* conn.call(`list ${prefix}`, () =>
          conn.client.kv.range({ ...conn.prefixRange(prefix), keys_only: true })
        )
        const now = yield* Clock.currentTimeMillis
        const out = new Map<string, number>()
        yield* Effect.forEach(
          res.kvs.filter((kv) => kv.lease !== "0" && !conn.isReserved(kv.key)),
          (kv) =>
            conn
              .call(`lease ${kv.lease}`, () => conn.client.leaseClient.leaseTimeToLive({ ID: kv.lease }))
              .pipe(
                Effect.map((lease) => {
                  if (Number(lease.TTL) >= 0) out.set(conn.userKey(kv.key), now + Number(lease.TTL) * 1000)
                })
              ),
          { concurrency: 16, discard: true }
        )
        return out
      })

    return {
      // A put may take several etcd calls (keep-alive, read, grant, put): the whole of it gets the bound.
      put: (key, value, options) =>
        Connection.within(timeoutMs)(Effect.zipRight(claimLeaseMode, writes.put(key, value, options))),
      // A delete refused (its key written meanwhile) is sent again: all of it within the bound too.
      delete: (key) => Connection.within(timeoutMs)(writes.remove(key)),
      deletePrefix: (prefix) => Connection.within(timeoutMs)(writes.removePrefix(prefix)),
      list,
      watch: (prefix) => Watch.watch(conn, prefix, rangeOf),
      expiries,
      stats: totals.stats,
      count: (prefix) => counts.count(prefix),
      timeout,
      within: Connection.within,
      claimLeaseMode
    }
  })

export const layer = (config: EtcdConfig): Layer.Layer<KvStore, KvError> =>
  Layer.scoped(KvStore, make(config))

/** `layer` from `Config`, in the style of `SqliteClient.layerConfig`. */
export const layerConfig = (
  config: Config.Config.Wrap<EtcdConfig>
): Layer.Layer<KvStore, KvError | ConfigError.ConfigError> =>
  Layer.scoped(KvStore, Effect.flatMap(Config.unwrap(config), make))
