/**
 * The etcd store's totals (entries, and clusters: distinct first path
 * segments) for `/metrics` and the server's bounds, kept in memory by one
 * watch of the whole prefix. Nothing is counted in etcd per request or per
 * second.
 *
 * Why not etcd's own counts: etcd 3.4 walks every key of a range to count it,
 * `count_only` and `limit` alike. Measured at 100,000 keys, one `count_only`
 * of the prefix cost 73 ms of etcd CPU and one `limit 1` read from the middle
 * 33 ms, so a skip scan of 1,000 clusters cost about 30 s of it.
 *
 * - **Loaded when first asked**: the keys are read once (keys only, in pages,
 *   all at one revision R) and counted per cluster. Askers wait for that.
 * - **Kept by a watch from R + 1**: a put that creates a key (its version is
 *   1) adds one, a delete or an expiry takes one away. Heartbeats write
 *   nothing, so in a steady group the watch is quiet.
 * - After a break the watch resumes from the last revision it saw; when etcd
 *   compacted past it (or answers from an older revision), the keys are read
 *   again. Answers lag etcd by the watch's delay (milliseconds; more while
 *   the instance is cut off from etcd).
 * - **A cluster's count** for the checks of a new key (`counts.ts`) is the
 *   tally's while the watch follows, plus this instance's own creates the
 *   watch has not applied yet: the check after a create must count that key.
 */
import { Data, Deferred, Effect, FiberId, Schedule, type Scope, Stream } from "effect"
import type { IEvent, IWatchResponse } from "etcd3"
import type { KvError } from "../../KvStore.js"
import { clusterOf } from "../kvPairs.js"
import * as TlsFiles from "../tlsFiles.js"
import { type Connection, unbounded } from "./connection.js"
import type { Followed } from "./followed.js"
import * as OwnCreates from "./ownCreates.js"

export interface EtcdStats {
  readonly entries: number
  readonly clusters: number
}

export interface Totals {
  readonly stats: Effect.Effect<EtcdStats, KvError>
  /**
   * Keys in `cluster` as the watch has applied them, plus this instance's creates it has not applied yet;
   * undefined while it is not following (not loaded yet, or counting again).
   */
  readonly inCluster: (cluster: string) => number | undefined
  /** This instance created `key` (a user key), acknowledged by etcd at or before `Connection.revision()`. */
  readonly created: (key: string) => void
}

/** Keys read per request while loading (a whole answer must stay under gRPC's 4 MB message limit). */
const PAGE = 10_000

class WatchEnded extends Data.TaggedError("WatchEnded")<{
  readonly reload: boolean
  readonly cause: unknown
}> {}

/** Entries per cluster, and where the watch stands. */
interface Tally {
  readonly clusters: Map<string, number>
  /** The full keys: the entries, and `Followed.present`. */
  readonly keys: Set<string>
  revision: bigint
}

const count = (tally: Tally, key: string, by: 1 | -1) => {
  const cluster = clusterOf(key)
  if (cluster === undefined) return
  const n = (tally.clusters.get(cluster) ?? 0) + by
  if (n > 0) tally.clusters.set(cluster, n)
  else tally.clusters.delete(cluster)
}

/** Every key of the store (etcd takes a `\0` start with an empty namespace). */
const everyKey = (conn: Connection) => {
  const all = conn.prefixRange("")
  return { start: all.key.length === 0 ? Buffer.from([0]) : all.key, end: all.range_end }
}

/** Every key under the prefix, counted, at one revision. */
const load = (conn: Connection, pageSize: number): Effect.Effect<Tally, KvError> =>
  Effect.gen(function* () {
    const all = everyKey(conn)
    const tally: Tally = { clusters: new Map(), keys: new Set(), revision: 0n }
    let from = all.start
    for (let page = 0; ; page++) {
      const res = yield* conn.call("count keys", () =>
        conn.client.kv.range({
          key: from,
          range_end: all.end,
          keys_only: true,
          limit: pageSize,
          ...(page > 0 ? { revision: tally.revision.toString() } : {})
        })
      )
      if (page === 0) tally.revision = BigInt(res.header.revision)
      for (const kv of res.kvs) {
        if (conn.isReserved(kv.key)) continue
        count(tally, conn.userKey(kv.key), 1)
        tally.keys.add(kv.key.toString())
      }
      const last = res.kvs.at(-1)
      if (!res.more || last === undefined) return tally
      from = Buffer.concat([last.key, Buffer.from([0])])
    }
  })

/** One watch of the whole prefix from `tally.revision + 1`, its events applied, until it breaks. */
const follow = (conn: Connection, tally: Tally, followed: Followed): Stream.Stream<never, WatchEnded> =>
  Stream.asyncScoped<never, WatchEnded>((emit) =>
    Effect.acquireRelease(
      Effect.sync(() => {
        let active = true
        const end = (reload: boolean, cause: unknown) => {
          if (!active) return
          active = false
          void emit.fail(new WatchEnded({ reload, cause }))
        }
        const w = conn.client
          .watch()
          .inRange(everyKey(conn))
          .startRevision(String(tally.revision + 1n))
          .watcher()
        w.on("connected", (res: IWatchResponse) => {
          if (BigInt(res.header.revision) < tally.revision) end(true, new Error("etcd's revision went back"))
        })
        w.on("data", (res: IWatchResponse) => {
          if (!active) return
          for (const e of res.events as ReadonlyArray<IEvent>) {
            const fullKey = e.kv.key.toString()
            const entry = !conn.isReserved(e.kv.key) // not a commit fence
            if (entry && e.type === "Delete") {
              count(tally, conn.userKey(e.kv.key), -1)
              tally.keys.delete(fullKey)
            } else if (entry && String(e.kv.version) === "1") {
              count(tally, conn.userKey(e.kv.key), 1)
              tally.keys.add(fullKey)
            }
            followed.onChange(fullKey, BigInt(e.kv.mod_revision))
          }
          // Resume after the last event applied. Not the header's revision: it counts writes elsewhere, and
          // a watch catching up is sent etcd's current revision before the rest of its events.
          const last = res.events.at(-1)
          if (last !== undefined) followed.applied = tally.revision = BigInt(last.kv.mod_revision)
        })
        w.on("disconnected", (cause: unknown) => end(false, cause))
        w.on("error", (cause: unknown) => end(true, cause))
        return w
      }),
      (w) => Effect.promise(() => w.cancel()).pipe(Effect.timeout("1 second"), Effect.ignore)
    )
  )

/** Follows the watch, resumed after breaks, until it calls for counting again. */
const untilReload = (conn: Connection, tally: Tally, followed: Followed): Effect.Effect<WatchEnded> =>
  Stream.runDrain(follow(conn, tally, followed)).pipe(
    Effect.tapError((e) => Effect.logDebug(`etcd totals: watch ended (${TlsFiles.describe(e.cause)})`)),
    Effect.retry({ schedule: Schedule.spaced("250 millis"), while: (e) => !e.reload }),
    Effect.match({
      onFailure: (e) => e,
      onSuccess: () => new WatchEnded({ reload: true, cause: new Error("the watch ended") })
    })
  )

export const make = (
  conn: Connection,
  followed: Followed,
  pageSize: number = PAGE
): Effect.Effect<Totals, never, Scope.Scope> =>
  Effect.gen(function* () {
    const scope = yield* Effect.scope
    let tally: Tally | undefined
    let loading: Deferred.Deferred<void, KvError> | undefined
    const own = OwnCreates.make()

    /** Counted at `t.revision`: every change after it is seen from now on. */
    const install = (t: Tally) => {
      tally = t
      followed.applied = t.revision
      followed.present = t.keys
      followed.from = t.revision
    }

    /** After the first load: the watch, and a new count whenever it calls for one, for ever. */
    const keepCounting = (first: Tally): Effect.Effect<never> =>
      Effect.gen(function* () {
        let current = first
        for (;;) {
          const ended = yield* untilReload(conn, current, followed)
          yield* Effect.logDebug(`etcd totals: counting again (${TlsFiles.describe(ended.cause)})`)
          // Changes between the last one applied and the new count are not seen.
          followed.from = undefined
          current = yield* load(conn, pageSize).pipe(Effect.retry(Schedule.spaced("1 second")), Effect.orDie)
          install(current)
        }
      })

    // The first load runs in the store's scope, so an asker that goes away does not strand the others.
    const start = Effect.suspend(() => {
      if (loading !== undefined) return Deferred.await(loading)
      const ready = Deferred.unsafeMake<void, KvError>(FiberId.none)
      loading = ready
      // Not bounded by the deadline of the request that asked first (`Connection.within`): it serves them all.
      return unbounded(load(conn, pageSize)).pipe(
        Effect.flatMap((first) => {
          install(first)
          return Effect.forkIn(unbounded(keepCounting(first)), scope)
        }),
        Effect.intoDeferred(ready),
        // A failed first load: the next asker starts again.
        Effect.ensuring(Effect.sync(() => tally === undefined && loading === ready && (loading = undefined))),
        Effect.forkIn(scope),
        Effect.zipRight(Deferred.await(ready))
      )
    })

    const snapshot = (t: Tally): EtcdStats => ({ entries: t.keys.size, clusters: t.clusters.size })
    const following = () => (tally !== undefined && followed.from !== undefined ? tally : undefined)
    return {
      stats: Effect.suspend(() =>
        tally !== undefined ? Effect.succeed(snapshot(tally)) : Effect.map(start, () => snapshot(tally!))
      ),
      inCluster: (cluster) => {
        const t = following()
        return t === undefined ? undefined : (t.clusters.get(cluster) ?? 0) + own.unapplied(t, cluster)
      },
      created: (key) => {
        const cluster = clusterOf(key)
        const t = following()
        if (cluster !== undefined && t !== undefined)
          own.add(t, cluster, conn.fullKey(key).toString(), conn.revision())
      }
    }
  })
