/**
 * What keeps the etcd store's cost off the number of live entries, against a
 * real etcd: totals counted by etcd (not listed), leases granted ahead under
 * load, one lease per key however the puts interleave.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Duration, Effect, Schedule } from "effect"
import * as Etcd from "../../../src/KvStore/Etcd.js"
import * as Connection from "../../../src/internal/etcd/connection.js"
import * as Counts from "../../../src/internal/etcd/counts.js"
import * as Followed from "../../../src/internal/etcd/followed.js"
import * as KeepAlive from "../../../src/internal/etcd/keepAlive.js"
import * as Leases from "../../../src/internal/etcd/leases.js"
import * as Requests from "../../../src/internal/etcd/requests.js"
import * as Stats from "../../../src/internal/etcd/stats.js"
import { type EtcdServer, etcdAvailable, startEtcd } from "../../support/etcd.js"

const available = etcdAvailable()
let server: EtcdServer
let run = 0
const fresh = () => `s${process.pid}-${++run}`

const leasesOf = (prefix: string) =>
  Effect.promise(() => server.etcdctl("get", "--prefix", prefix, "-w", "json")).pipe(
    // Lease IDs are 64-bit: read them from the JSON text.
    Effect.map((json) => [...json.matchAll(/"lease":(\d+)/g)].map((m) => BigInt(m[1]!)))
  )
const remaining = (lease: bigint) =>
  Effect.promise(() => server.etcdctl("lease", "timetolive", lease.toString(16))).pipe(
    Effect.map((text) => Number(/remaining\((-?\d+)s\)/.exec(text)?.[1]))
  )

describe.skipIf(!available)("etcd store at scale (real etcd)", () => {
  beforeAll(async () => {
    server = await startEtcd()
  })
  afterAll(async () => {
    await server?.dispose()
  })

  it.scopedLive("stats and count: etcd's counts of keys and clusters, keys outside a cluster left out", () =>
    Effect.gen(function* () {
      const ns = fresh()
      const kv = yield* Etcd.make({ endpoints: [server.endpoint], prefix: ns })
      const clusters = ["a", "b", "b0", "c"]
      yield* Effect.forEach(clusters, (c, i) =>
        Effect.forEach(Array.from({ length: i + 1 }), (_, j) => kv.put(`${c}/10.0.0.${j}:1`, "x"))
      )
      yield* kv.put("loose", "x") // not under a cluster
      const stats = yield* kv.stats
      assert.deepStrictEqual(stats, { entries: 1 + 2 + 3 + 4 + 1, clusters: 4 })
      assert.strictEqual(yield* kv.count("b/"), 2)
      assert.strictEqual(yield* kv.count("b0/"), 3)
      assert.strictEqual(yield* kv.count("none/"), 0)
      // A second store (another instance) counts the same.
      const other = yield* Etcd.make({ endpoints: [server.endpoint], prefix: ns })
      assert.deepStrictEqual(yield* other.stats, stats)
    })
  )

  it.scopedLive("totals are counted once, in pages, then kept by the watch: creates, deletes, expiries", () =>
    Effect.gen(function* () {
      const ns = fresh()
      const kv = yield* Etcd.make({ endpoints: [server.endpoint], prefix: ns })
      for (let i = 0; i < 7; i++) yield* kv.put(`c${i % 3}/10.0.0.${i}:1`, "x")
      const conn = yield* Connection.make({
        endpoints: [server.endpoint],
        prefix: ns,
        timeout: Duration.seconds(5)
      })
      // Pages of 2 keys: the count must walk four pages at one revision.
      const { stats } = yield* Stats.make(conn, Followed.make(), 2)
      assert.deepStrictEqual(yield* stats, { entries: 7, clusters: 3 })
      const until = (want: Stats.EtcdStats, what: string) =>
        stats.pipe(
          Effect.filterOrFail(
            (got) => got.entries === want.entries && got.clusters === want.clusters,
            (got) => new Error(`${what}: ${JSON.stringify(got)}`)
          ),
          Effect.retry(Schedule.spaced("20 millis")),
          Effect.timeout("5 seconds"),
          Effect.orDie
        )
      yield* kv.put("d/10.0.0.1:1", "x", { ttl: "2 seconds" })
      yield* kv.put("c0/10.0.0.0:1", "changed") // an update of a counted key adds nothing
      yield* until({ entries: 8, clusters: 4 }, "a new cluster")
      yield* kv.deletePrefix("c1/")
      yield* until({ entries: 6, clusters: 3 }, "a cluster deleted")
      yield* until({ entries: 5, clusters: 2 }, "the TTL key expired in etcd")
      // Another instance's writes arrive by the same watch.
      const other = yield* Etcd.make({ endpoints: [server.endpoint], prefix: ns })
      yield* other.put("e/10.0.0.1:1", "x")
      yield* until({ entries: 6, clusters: 3 }, "another instance's write")
    })
  )

  it.scopedLive(
    "a cluster's count follows the totals watch: the store's own creates at once, another's soon",
    () =>
      Effect.gen(function* () {
        const ns = fresh()
        const kv = yield* Etcd.make({ endpoints: [server.endpoint], prefix: ns })
        const other = yield* Etcd.make({ endpoints: [server.endpoint], prefix: ns })
        yield* kv.put("c/10.0.0.0:1", "x")
        assert.strictEqual(yield* kv.count("c/"), 1)
        yield* kv.stats // loaded: the watch follows from here
        // Each create is in the count its put returns to, whether or not the watch has applied it yet.
        for (let i = 1; i <= 40; i++) {
          yield* kv.put(`c/10.0.0.${i}:1`, "x", { ttl: "60 seconds" })
          assert.strictEqual(yield* kv.count("c/"), i + 1, `after create ${i}`)
        }
        // Another instance's create and delete: seen within the watch's delay, not a kept count's seconds.
        const until = (want: number) =>
          kv.count("c/").pipe(
            Effect.filterOrFail(
              (n) => n === want,
              (n) => new Error(`count ${n}, not ${want}`)
            ),
            Effect.retry(Schedule.spaced("10 millis")),
            Effect.timeout(Duration.subtract(Counts.FRESH, Duration.seconds(5))),
            Effect.orDie
          )
        yield* other.put("c/10.0.1.1:1", "x")
        yield* until(42)
        yield* other.delete("c/10.0.0.0:1")
        yield* until(41)
      })
  )

  it.scopedLive(
    "under concurrent new keys, leases are granted ahead: one per key, each with its full TTL",
    () =>
      Effect.gen(function* () {
        const ns = fresh()
        const conn = yield* Connection.make({
          endpoints: [server.endpoint],
          prefix: ns,
          timeout: Duration.seconds(5)
        })
        const writes = yield* Leases.make(
          conn,
          yield* KeepAlive.make(conn),
          Counts.make(Requests.make(conn).count),
          Followed.make()
        )
        const put = (i: number) => writes.put(`c/10.0.${i >> 8}.${i & 255}:1`, "v", { ttl: "60 seconds" })
        yield* Effect.forEach(
          Array.from({ length: 64 }, (_, i) => i),
          put,
          { concurrency: 64 }
        )
        assert.isAbove(writes.spares(), 0, "contention filled the pool")
        const spares = writes.spares()
        // Spares wait, then serve new keys: each key still gets its whole TTL from its own put.
        yield* Effect.sleep("6 seconds")
        const late: Array<{ key: string; at: number }> = []
        for (let i = 1000; i < 1000 + spares; i++) {
          late.push({ key: `${ns}/c/10.0.${i >> 8}.${i & 255}:1`, at: Date.now() })
          yield* put(i)
        }
        const leases = yield* leasesOf(`${ns}/c/`)
        assert.strictEqual(leases.length, 64 + spares)
        assert.strictEqual(new Set(leases).size, leases.length, "no two keys share a lease")
        for (const { at, key } of late.slice(0, 4)) {
          const [lease] = yield* leasesOf(key)
          const left = yield* remaining(lease!)
          const after = Date.now() - at
          // etcd rounds down; a spare that kept its grant's clock would have at most 54s left by now.
          assert.isAtLeast(
            left,
            60 - Math.ceil(after / 1000) - 1,
            `${key}: ${left}s left ${after}ms after its put`
          )
        }
      })
  )

  it.scopedLive("spare leases are revoked when the store closes", () =>
    Effect.gen(function* () {
      const ns = fresh()
      const before = yield* Effect.promise(() => server.etcdctl("lease", "list"))
      const count = (text: string) => (text.match(/^[0-9a-f]+$/gm) ?? []).length
      yield* Effect.scoped(
        Effect.gen(function* () {
          const conn = yield* Connection.make({
            endpoints: [server.endpoint],
            prefix: ns,
            timeout: Duration.seconds(5)
          })
          const writes = yield* Leases.make(
            conn,
            yield* KeepAlive.make(conn),
            Counts.make(Requests.make(conn).count),
            Followed.make()
          )
          yield* Effect.forEach(
            Array.from({ length: 32 }, (_, i) => i),
            (i) => writes.put(`c/${i}`, "v", { ttl: "60 seconds" }),
            { concurrency: 32 }
          )
          assert.isAbove(writes.spares(), 0)
          yield* writes.removePrefix("c/")
        })
      )
      yield* Effect.sleep("300 millis") // the removed keys' revokes run in the background
      const after = yield* Effect.promise(() => server.etcdctl("lease", "list"))
      assert.strictEqual(count(after), count(before))
    })
  )
})
