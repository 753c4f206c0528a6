/**
 * The etcd store's totals, for `/metrics` and the server's bounds, without
 * listing the keys: nothing here grows with the live entries on a request's
 * path.
 *
 * - **Entries**: etcd counts the keys under the prefix (`count_only`); the
 *   server's bounds ask at most once a second, one request at a time.
 * - **Clusters** (distinct first path segments): a skip scan, one `limit 1`
 *   range per cluster, each starting past the previous cluster's keys, shared
 *   by concurrent askers. It costs one small request per cluster. While the
 *   clusters are few (a scan under `QUICK`) every asker gets a fresh count;
 *   with many, askers get the last figure while the next scan runs, at most
 *   once per 20 times as long as the last took (at 1,000 clusters the figure
 *   may be some seconds old).
 */
import { Clock, Deferred, Effect, type Scope } from "effect"
import type { KvError } from "../../KvStore.js"
import { type Connection, prefixEnd } from "./connection.js"

export interface EtcdStats {
  readonly entries: number
  readonly clusters: number
}

/** A scan quicker than this runs for every asker (shared); a slower one at most every 20 times as long as it took, in the background. */
const QUICK = 250

export const make = (
  conn: Connection
): Effect.Effect<Effect.Effect<EtcdStats, KvError>, never, Scope.Scope> =>
  Effect.gen(function* () {
    const { call, client } = conn
    const all = conn.prefixRange("")
    const start = all.key.length === 0 ? Buffer.from([0]) : all.key

    const entries = call("count keys", () =>
      client.kv.range({ key: start, range_end: all.range_end, count_only: true, serializable: true })
    ).pipe(Effect.map((res) => Number(res.count)))

    const scanClusters = Effect.gen(function* () {
      let from = start
      let clusters = 0
      for (;;) {
        const res = yield* call("count clusters", () =>
          client.kv.range({
            key: from,
            range_end: all.range_end,
            limit: 1,
            keys_only: true,
            serializable: true
          })
        )
        const kv = res.kvs[0]
        if (kv === undefined) return clusters
        const key = conn.userKey(kv.key)
        const slash = key.indexOf("/")
        if (slash > 0) clusters++
        // Past every key of this cluster (or just past a key outside any cluster).
        from =
          slash > 0
            ? prefixEnd(conn.fullKey(key.slice(0, slash + 1)))
            : Buffer.concat([kv.key, Buffer.from([0])])
      }
    })

    const scope = yield* Effect.scope
    let clusters: { readonly value: number; readonly at: number; readonly took: number } | undefined
    /** The scan running now, shared by whoever waits for it. */
    let scanning: Deferred.Deferred<number, KvError> | undefined
    const scan = Effect.gen(function* () {
      const done = yield* Deferred.make<number, KvError>()
      scanning = done
      const t0 = yield* Clock.currentTimeMillis
      yield* scanClusters.pipe(
        Effect.tap((value) =>
          Effect.map(Clock.currentTimeMillis, (at) => (clusters = { value, at, took: at - t0 }))
        ),
        Effect.intoDeferred(done),
        Effect.ensuring(Effect.sync(() => (scanning = undefined))),
        Effect.forkIn(scope)
      )
      return done
    })

    const clusterCount = Effect.gen(function* () {
      const last = clusters
      if (last === undefined) return yield* Deferred.await(scanning ?? (yield* scan))
      const now = yield* Clock.currentTimeMillis
      if (last.took < QUICK) return yield* Deferred.await(scanning ?? (yield* scan))
      if (scanning === undefined && now - last.at > 20 * last.took) yield* scan
      return last.value
    })

    return Effect.all({ entries, clusters: clusterCount }, { concurrency: 2 })
  })
