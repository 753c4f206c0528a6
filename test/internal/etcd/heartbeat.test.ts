/**
 * Heartbeats over etcd once the totals watch runs: a keep-alive and nothing
 * else, however much the rest of the group writes; and a change of the key
 * through another instance (a delete, another value) is never missed,
 * whether the watch has caught up with it or not. Real etcd, real time.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Duration, Effect, Schedule } from "effect"
import type { KVClient } from "etcd3"
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
const fresh = () => `h${process.pid}-${++run}`
const TTL = { ttl: "60 seconds" } as const

/** Counts the calls of `kv[method]` from now on. */
const counted = (kv: KVClient, method: "range" | "txn") => {
  const calls = { count: 0 }
  const original = kv[method].bind(kv) as (...args: Array<unknown>) => Promise<unknown>
  ;(kv as unknown as Record<string, unknown>)[method] = (...args: Array<unknown>) => {
    calls.count++
    return original(...args)
  }
  return calls
}

/**
 * One instance's writes, with its range requests counted; `watching` runs the totals watch (as
 * `swarm serve` does) and hands it the changes.
 */
const instance = (prefix: string, watching: boolean) =>
  Effect.gen(function* () {
    const conn = yield* Connection.make({
      endpoints: [server.endpoint],
      prefix,
      timeout: Duration.seconds(5)
    })
    const ranges = counted(conn.client.kv, "range")
    const txns = counted(conn.client.kv, "txn")
    const followed = Followed.make()
    const writes = yield* Leases.make(
      conn,
      yield* KeepAlive.make(conn),
      Counts.make(Requests.make(conn).count),
      followed
    )
    if (watching) yield* (yield* Stats.make(conn, followed)).stats
    /** Until the watch has applied every change up to etcd's revision now. */
    const caughtUp = Effect.gen(function* () {
      const now = BigInt(
        (yield* Effect.promise(() => conn.client.kv.range({ key: Buffer.from("-") }))).header.revision
      )
      ranges.count--
      yield* Effect.suspend(() =>
        followed.applied >= now ? Effect.void : Effect.fail(new Error(`applied ${followed.applied} < ${now}`))
      ).pipe(Effect.retry(Schedule.spaced("10 millis")), Effect.timeout("5 seconds"), Effect.orDie)
    })
    return { writes, ranges, txns, caughtUp }
  })

describe.skipIf(!available)("etcd heartbeats checked by the totals watch (real etcd)", () => {
  beforeAll(async () => {
    server = await startEtcd()
  })
  afterAll(async () => {
    await server?.dispose()
  })

  it.scopedLive(
    "after other keys were written, a heartbeat reads nothing with the watch and one key without",
    () =>
      Effect.gen(function* () {
        const ns = fresh()
        const other = yield* Etcd.make({ endpoints: [server.endpoint], prefix: ns })
        for (const watching of [true, false]) {
          const here = yield* instance(ns, watching)
          const key = `c/${watching ? "watched" : "unwatched"}:1`
          assert.strictEqual(yield* here.writes.put(key, "v", TTL), "created")
          yield* Effect.forEach([1, 2, 3], (i) => other.put(`c/other-${watching}-${i}:1`, "x", TTL))
          if (watching) yield* here.caughtUp
          const before = here.ranges.count
          assert.strictEqual(yield* here.writes.put(key, "v", TTL), "updated")
          assert.strictEqual(
            here.ranges.count - before,
            watching ? 0 : 1,
            `range requests (watching: ${watching})`
          )
        }
      })
  )

  it.scopedLive(
    "a heartbeat through an instance that holds no lease for the key: a read and a keep-alive, no transaction",
    () =>
      Effect.gen(function* () {
        const ns = fresh()
        const first = yield* Etcd.make({ endpoints: [server.endpoint], prefix: ns })
        for (const watching of [true, false]) {
          const key = `c/through-${watching}:1`
          assert.strictEqual(yield* first.put(key, "v", TTL), "created")
          const here = yield* instance(ns, watching)
          if (watching) yield* here.caughtUp
          const before = { ranges: here.ranges.count, txns: here.txns.count }
          assert.strictEqual(yield* here.writes.put(key, "v", TTL), "updated")
          // Without the watch this instance cannot tell the key exists: the create-or-read transaction (a
          // raft write in etcd, even when it only reads).
          assert.deepStrictEqual(
            { ranges: here.ranges.count - before.ranges, txns: here.txns.count - before.txns },
            watching ? { ranges: 1, txns: 0 } : { ranges: 0, txns: 1 },
            `requests (watching: ${watching})`
          )
          // The lease is this instance's now: its next heartbeat is a keep-alive alone.
          const adopted = { ranges: here.ranges.count, txns: here.txns.count }
          assert.strictEqual(yield* here.writes.put(key, "v", TTL), "updated")
          assert.deepStrictEqual(
            { ranges: here.ranges.count, txns: here.txns.count },
            adopted,
            `after adopting (watching: ${watching})`
          )
        }
      })
  )

  it.scopedLive("a delete or a new value through another instance is seen, caught up or not", () =>
    Effect.gen(function* () {
      const ns = fresh()
      const other = yield* Etcd.make({ endpoints: [server.endpoint], prefix: ns })
      const here = yield* instance(ns, true)
      const list = Effect.map(other.list("c/"), (s) => s.pairs.map((p) => `${p.key}=${p.value}`))
      for (const caughtUp of [false, true]) {
        const key = `c/${caughtUp}:1`
        assert.strictEqual(yield* here.writes.put(key, "v", TTL), "created")
        yield* here.caughtUp
        // Deleted there: the heartbeat here must create it again, not answer "updated" for a missing key.
        assert.isTrue(yield* other.delete(key))
        if (caughtUp) yield* here.caughtUp
        assert.strictEqual(yield* here.writes.put(key, "v", TTL), "created")
        assert.include(yield* list, `${key}=v`)
        // Another value there: the heartbeat here writes its own back.
        yield* other.put(key, "theirs", TTL)
        if (caughtUp) yield* here.caughtUp
        assert.strictEqual(yield* here.writes.put(key, "v", TTL), "updated")
        assert.include(yield* list, `${key}=v`)
        assert.notInclude(yield* list, `${key}=theirs`)
      }
    })
  )
})
