/**
 * Keep-alives go to etcd's leader, which answers them from memory, and follow
 * it when the leadership moves: a follower would forward each one to the
 * leader at several times the cost (`leader.ts`). Counted from each member's
 * own gRPC metrics. Real 3-member etcd, real time.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import * as Connection from "../../../src/internal/etcd/connection.js"
import * as KeepAlive from "../../../src/internal/etcd/keepAlive.js"
import { etcdAvailable } from "../../support/etcd.js"
import { type EtcdCluster, startEtcdCluster } from "../../support/etcdCluster.js"

const available = etcdAvailable()
let cluster: EtcdCluster
const KEEPALIVE = "LeaseKeepAlive"

const counts = () =>
  Effect.promise(() => Promise.all(cluster.endpoints.map((_, i) => cluster.received(i, KEEPALIVE))))

/** A keep-alive store over every member, with one lease of its own. */
const setUp = Effect.gen(function* () {
  const conn = yield* Connection.make({ endpoints: cluster.endpoints, timeout: Duration.seconds(5) })
  const keepAlive = yield* KeepAlive.make(conn)
  const { ID } = yield* Effect.promise(() => conn.client.leaseClient.leaseGrant({ TTL: 60, ID: "0" }))
  return { keepAlive, lease: ID }
})

const refreshTimes = (keepAlive: KeepAlive.KeepAlive, lease: string, n: number) =>
  Effect.repeatN(
    Effect.tap(keepAlive.refresh(lease), ({ ttl }) => assert.isAbove(ttl, 0)),
    n - 1
  )

describe.skipIf(!available)("etcd keep-alives aimed at the leader (real 3-member etcd)", () => {
  beforeAll(async () => {
    cluster = await startEtcdCluster(3)
  }, 60_000)
  afterAll(async () => {
    await cluster?.dispose()
  })

  it.scopedLive("every keep-alive reaches the leader's endpoint, none goes through a follower", () =>
    Effect.gen(function* () {
      const { keepAlive, lease } = yield* setUp
      const leader = yield* Effect.promise(() => cluster.leader())
      const before = yield* counts()
      yield* refreshTimes(keepAlive, lease, 50)
      const after = yield* counts()
      const received = after.map((n, i) => n - before[i]!)
      assert.strictEqual(keepAlive.aimedAt(), `http://${cluster.endpoints[leader]}`)
      assert.strictEqual(received[leader], 50, `keep-alives received per member: ${received.join(", ")}`)
      for (const [i, n] of received.entries()) if (i !== leader) assert.strictEqual(n, 0, `member ${i}`)
    })
  )

  it.scopedLive("when the leadership moves, the keep-alives move to the new leader", () =>
    Effect.gen(function* () {
      const { keepAlive, lease } = yield* setUp
      yield* refreshTimes(keepAlive, lease, 5)
      const old = yield* Effect.promise(() => cluster.leader())
      const next = (old + 1) % cluster.endpoints.length
      yield* Effect.promise(() => cluster.moveLeader(next))
      // The first answer after the move is in a new term: it retires the stream on the old leader.
      yield* refreshTimes(keepAlive, lease, 1)
      const before = yield* counts()
      yield* refreshTimes(keepAlive, lease, 50)
      const received = (yield* counts()).map((n, i) => n - before[i]!)
      assert.strictEqual(keepAlive.aimedAt(), `http://${cluster.endpoints[next]}`)
      assert.strictEqual(received[next], 50, `keep-alives received per member: ${received.join(", ")}`)
      assert.strictEqual(received[old], 0)
    })
  )
})
