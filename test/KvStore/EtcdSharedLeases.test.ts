/**
 * The etcd store with leases shared by time (`leases: "shared"`) against a
 * real etcd (started here on free loopback ports): the KvStore suite, and
 * what the mode promises: one lease per TTL per second, puts committed in
 * shared transactions, and a key that is not refreshed expiring though its
 * lease's other keys are.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect, Queue, Stream, TestClock } from "effect"
import type { KvSnapshot } from "../../src/KvStore.js"
import * as Etcd from "../../src/KvStore/Etcd.js"
import { BUCKET_MS } from "../../src/internal/etcd/leaseBuckets.js"
import { type EtcdServer, etcdAvailable, startEtcd } from "../support/etcd.js"
import { subjectOf, testStore } from "../support/KvStoreSuite.js"
import { sleep } from "../support/kv-server.js"

const available = etcdAvailable()

let server: EtcdServer
let run = 0
const fresh = () => `s${process.pid}-${++run}/`

const store = () => Etcd.make({ endpoints: [server.endpoint], timeout: "3 seconds", leases: "shared" })

/** Lease IDs are 64-bit: read them from etcdctl's JSON text. */
const leaseOf = (key: string) =>
  Effect.promise(() => server.etcdctl("get", key, "-w", "json")).pipe(
    Effect.map((json) => BigInt(/"lease":(\d+)/.exec(json)?.[1] ?? "0"))
  )
const grantedTtl = (lease: bigint) =>
  Effect.promise(() => server.etcdctl("lease", "timetolive", lease.toString(16))).pipe(
    Effect.map((text) => Number(/granted with TTL\((\d+)s\)/.exec(text)?.[1] ?? NaN))
  )
/** Calls of a gRPC method etcd answered so far (its own /metrics), e.g. "Txn" or "Range". */
const handled = (method: string) =>
  Effect.promise(async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text()
    const line = text
      .split("\n")
      .find(
        (l) =>
          l.startsWith("grpc_server_handled_total") &&
          l.includes(`grpc_method="${method}"`) &&
          l.includes('grpc_code="OK"')
      )
    return Number(line?.split(" ").pop() ?? 0)
  })

/** Waits real time (etcd answers in real time, whatever the TestClock says). */
const realPause = (ms: number) => Effect.promise(() => sleep(ms))
/** `read` again, every 50 ms of real time for up to 3 s, until `done` says its answer is the awaited one. */
const untilReal = <A, E>(read: Effect.Effect<A, E>, done: (a: A) => boolean): Effect.Effect<A, E> =>
  Effect.gen(function* () {
    for (let i = 0; i < 60; i++) {
      const a = yield* read
      if (done(a)) return a
      yield* realPause(50)
    }
    return yield* read
  })
const keys = (snapshot: KvSnapshot) => snapshot.pairs.map((x) => x.key)

describe.skipIf(!available)("KvStore/Etcd with shared leases (real etcd)", () => {
  beforeAll(async () => {
    server = await startEtcd()
  })
  afterAll(async () => {
    await server?.dispose()
  })

  it.scoped(
    "a lease serves the puts of one quarter second and is granted for the TTL + 1s; the next gets another",
    () =>
      Effect.gen(function* () {
        const kv = yield* store()
        const p = fresh()
        assert.strictEqual(yield* kv.put(`${p}a`, "v", { ttl: "30 seconds" }), "created")
        const first = yield* leaseOf(`${p}a`)
        assert.isTrue(first > 0n, "the key carries a lease")
        assert.strictEqual(
          yield* grantedTtl(first),
          31,
          "TTL + 1s: a put at the end of the lease's quarter second still gets its TTL from etcd's own expiry"
        )
        yield* TestClock.adjust(BUCKET_MS - 1)
        assert.strictEqual(yield* kv.put(`${p}b`, "v", { ttl: "30 seconds" }), "created")
        assert.strictEqual(yield* leaseOf(`${p}b`), first, "the same quarter second: the same lease")
        // Another TTL in the same quarter second: a lease of its own.
        yield* kv.put(`${p}c`, "v", { ttl: "40 seconds" })
        const other = yield* leaseOf(`${p}c`)
        assert.notStrictEqual(other, first)
        assert.strictEqual(yield* grantedTtl(other), 41)
        yield* TestClock.adjust(1)
        // A heartbeat moves the key to the lease of its quarter second: updated, not created.
        assert.strictEqual(yield* kv.put(`${p}a`, "v", { ttl: "30 seconds" }), "updated")
        const next = yield* leaseOf(`${p}a`)
        assert.isTrue(next !== first && next > 0n, "a new quarter second: a new lease")
        assert.strictEqual(yield* leaseOf(`${p}b`), first, "b stays on the lease of its last put")
      })
  )

  it.scoped(
    "the store revokes a lease a TTL after its last put: a key not put again goes then, not at etcd's expiry",
    () =>
      Effect.gen(function* () {
        const kv = yield* store()
        const p = fresh()
        yield* kv.put(`${p}left`, "v", { ttl: "30 seconds" })
        yield* kv.put(`${p}kept`, "v", { ttl: "30 seconds" })
        const lease = yield* leaseOf(`${p}left`)
        assert.strictEqual(yield* leaseOf(`${p}kept`), lease, "both on one lease")
        yield* TestClock.adjust("20 seconds")
        // A heartbeat of `kept` moves it to a newer lease.
        assert.strictEqual(yield* kv.put(`${p}kept`, "v", { ttl: "30 seconds" }), "updated")
        yield* TestClock.adjust(10_000 - 1)
        yield* realPause(200)
        assert.deepStrictEqual(
          keys(yield* kv.list(p)),
          [`${p}kept`, `${p}left`],
          "a TTL after the put is not over"
        )
        // Real time has barely passed: etcd would expire the lease (granted for 31 s) half a minute from now.
        yield* TestClock.adjust(1)
        const listed = yield* untilReal(kv.list(p), (s) => s.pairs.length < 2)
        assert.deepStrictEqual(keys(listed), [`${p}kept`], "the lease of the first puts is revoked")
        assert.isNaN(yield* grantedTtl(lease), "etcd no longer has the lease")
        assert.isTrue((yield* leaseOf(`${p}kept`)) > 0n)
      })
  )

  it.scopedLive("concurrent puts share transactions and leases", () =>
    Effect.gen(function* () {
      const kv = yield* store()
      const p = fresh()
      const keys = Array.from({ length: 400 }, (_, i) => `${p}k${i}`)
      const before = yield* handled("Txn")
      const results = yield* Effect.forEach(keys, (k) => kv.put(k, "v", { ttl: "30 seconds" }), {
        concurrency: "unbounded"
      })
      const spent = (yield* handled("Txn")) - before
      assert.deepStrictEqual(new Set(results), new Set(["created"]))
      assert.strictEqual((yield* kv.list(p)).pairs.length, keys.length)
      assert.isBelow(spent, keys.length / 4, `${keys.length} puts in ${spent} transactions`)
      const leases = new Set(yield* Effect.forEach(keys.slice(0, 40), leaseOf))
      assert.isAtMost(leases.size, 3, "one lease per second the puts spanned")
      // A key put twice at once (a heartbeat racing its registration): both answered, one key.
      const twice = yield* Effect.all(
        [kv.put(`${p}twice`, "a", { ttl: "30 seconds" }), kv.put(`${p}twice`, "a", { ttl: "30 seconds" })],
        {
          concurrency: 2
        }
      )
      assert.sameMembers(twice, ["created", "updated"])
    })
  )

  it.scopedLive(
    "a key not refreshed expires while its lease's other keys are refreshed onto later leases",
    () =>
      Effect.gen(function* () {
        const kv = yield* store()
        const p = fresh()
        yield* kv.put(`${p}left`, "v", { ttl: "2 seconds" })
        yield* kv.put(`${p}kept`, "v", { ttl: "2 seconds" })
        assert.strictEqual(yield* leaseOf(`${p}left`), yield* leaseOf(`${p}kept`), "they start on one lease")
        // Heartbeats of `kept` every 700 ms for 5 s: `left`'s lease runs out 2-3 s after its put.
        for (let i = 0; i < 7; i++) {
          yield* Effect.sleep("700 millis")
          assert.strictEqual(yield* kv.put(`${p}kept`, "v", { ttl: "2 seconds" }), "updated")
        }
        assert.deepStrictEqual(
          (yield* kv.list(p)).pairs.map((x) => x.key),
          [`${p}kept`]
        )
      })
  )

  it.scopedLive("the commit fence is kept beside the entries, never counted or listed as one", () =>
    Effect.gen(function* () {
      const prefix = `fence${process.pid}`
      const kv = yield* Etcd.make({
        endpoints: [server.endpoint],
        timeout: "3 seconds",
        leases: "shared",
        prefix
      })
      yield* kv.put("c1/a", "v", { ttl: "30 seconds" })
      yield* kv.put("c2/b", "v", { ttl: "30 seconds" })
      const stored = (yield* Effect.promise(() =>
        server.etcdctl("get", `${prefix}/`, "--prefix", "--keys-only")
      ))
        .split("\n")
        .filter((line) => line.length > 0)
      assert.strictEqual(
        stored.length,
        4,
        `the two entries, this instance's fence and the lease mode's record: ${JSON.stringify(stored)}`
      )
      assert.deepStrictEqual(
        (yield* kv.list("")).pairs.map((p) => p.key),
        ["c1/a", "c2/b"]
      )
      assert.deepStrictEqual(yield* kv.stats, { entries: 2, clusters: 2 })
      assert.deepStrictEqual([...(yield* kv.expiries!("")).keys()].sort(), ["c1/a", "c2/b"])
    })
  )

  it.scopedLive("a watched prefix is not read again for a heartbeat: only for a change", () =>
    Effect.gen(function* () {
      const kv = yield* store()
      const p = fresh()
      yield* kv.put(`${p}a`, "v", { ttl: "30 seconds" })
      const snapshots = yield* Queue.unbounded<KvSnapshot>()
      yield* kv.watch(p).pipe(
        Stream.runForEach((s) => Queue.offer(snapshots, s)),
        Effect.forkScoped
      )
      const first = yield* Queue.take(snapshots)
      const ranges = yield* handled("Range")
      // Twenty heartbeats: twenty puts of the same value, each an etcd event on the watch.
      for (let i = 0; i < 20; i++)
        assert.strictEqual(yield* kv.put(`${p}a`, "v", { ttl: "30 seconds" }), "updated")
      yield* kv.put(`${p}b`, "v", { ttl: "30 seconds" })
      const next = yield* Queue.take(snapshots)
      assert.deepStrictEqual(
        next.pairs.map((x) => x.key),
        [`${p}a`, `${p}b`],
        "the next snapshot is the change, not a heartbeat"
      )
      assert.isAbove(next.index, first.index)
      const spent = (yield* handled("Range")) - ranges
      assert.isAtMost(spent, 2, `${spent} ranges for 20 heartbeats and one change`)
      // A list and the watch give the same pairs the same index, which heartbeats do not move: an instance's
      // answers (a GET, then a long-poll from the watch, then a GET) never go back.
      assert.strictEqual((yield* kv.list(p)).index, next.index)
      yield* kv.put(`${p}a`, "v", { ttl: "30 seconds" })
      assert.strictEqual((yield* kv.list(p)).index, next.index)
    })
  )

  describe("the KvStore suite", () => {
    // A key lives from its put until the store revokes its lease, a TTL after the lease's last use (at most
    // a quarter second after the key's own put): never early.
    testStore({
      clock: "live",
      make: subjectOf(Effect.suspend(() => store())),
      ttl: "2 seconds",
      expiry: { earliest: "1900 millis", latest: "3000 millis" },
      fresh: false
    })
  })
})
