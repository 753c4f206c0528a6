/**
 * Puts committed together (`groupCommit.ts`) against a real etcd: a transaction built before a newer put of its
 * key must not apply late and move the key back to an older lease (which would expire before the newer put's TTL),
 * and a late copy of a transaction that did commit must not bring back a key deleted since.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Duration, Effect, Either } from "effect"
import * as Connection from "../../../src/internal/etcd/connection.js"
import * as GroupCommit from "../../../src/internal/etcd/groupCommit.js"
import { type EtcdServer, etcdAvailable, startEtcd } from "../../support/etcd.js"

type TxnRequest = Parameters<Connection.Connection["client"]["kv"]["txn"]>[0]

/**
 * `conn` whose transactions go through `txn` (given the real one), as etcd's client would send them: the
 * committer's only etcd call is `kv.txn`.
 */
const sendingThrough = (
  conn: Connection.Connection,
  txn: (
    req: TxnRequest,
    real: (req: TxnRequest) => ReturnType<Connection.Connection["client"]["kv"]["txn"]>
  ) => ReturnType<Connection.Connection["client"]["kv"]["txn"]>
): Connection.Connection =>
  ({ ...conn, client: { kv: { txn: (req: TxnRequest) => txn(req, (r) => conn.client.kv.txn(r)) } } }) as never

const available = etcdAvailable()
let server: EtcdServer

describe.skipIf(!available)("internal/etcd/groupCommit (real etcd)", () => {
  beforeAll(async () => {
    server = await startEtcd()
  })
  afterAll(async () => {
    await server?.dispose()
  })

  it.scopedLive(
    "a batch that knew less than a newer put of its key does not apply: it is sent again on a fresh lease",
    () =>
      Effect.gen(function* () {
        const conn = yield* Connection.make({ endpoints: [server.endpoint], timeout: Duration.seconds(3) })
        const { client } = conn
        const grant = () =>
          Effect.promise(() => client.leaseClient.leaseGrant({ TTL: 60, ID: 0 }).then((r) => r.ID))
        const [older, newer, fresh] = [yield* grant(), yield* grant(), yield* grant()]
        const key = Buffer.from(`gc${process.pid}/k`)
        // What this instance knew when it built the batch: etcd's revision before the newer put.
        const before = yield* Effect.promise(() => client.kv.range({ key: Buffer.from("nothing") }))
        const knew = BigInt(before.header.revision)
        // Meanwhile another instance put the key on its own, newer lease.
        yield* Effect.promise(() => client.kv.put({ key, value: Buffer.from("v"), lease: newer }))
        // The batch's first send would carry the older lease (as a late retry does), a later send the fresh one.
        const offered: Array<string> = []
        const leaseFor = () =>
          Effect.sync(() => {
            const lease = offered.length === 0 ? older : fresh
            offered.push(lease)
            return lease
          })
        const commits = yield* GroupCommit.make(conn, leaseFor, () => knew)
        const committed = yield* commits.put(key, "v", 60)
        assert.isFalse(committed.created)
        const now = yield* Effect.promise(() => client.kv.range({ key }))
        assert.strictEqual(
          now.kvs[0]?.lease,
          fresh,
          "the key is on the fresh lease, never moved back to the older one"
        )
        assert.deepStrictEqual(
          offered,
          [older, fresh],
          "refused once, then sent again knowing etcd's revision"
        )
      })
  )

  it.scopedLive("a late copy of a committed transaction does not bring back a key deleted since", () =>
    Effect.gen(function* () {
      const real = yield* Connection.make({ endpoints: [server.endpoint], timeout: Duration.seconds(3) })
      const { client } = real
      const lease = yield* Effect.promise(() =>
        client.leaseClient.leaseGrant({ TTL: 60, ID: 0 }).then((r) => r.ID)
      )
      const sent: Array<TxnRequest> = []
      const conn = sendingThrough(real, (req, txn) => (sent.push(req), txn(req)))
      const commits = yield* GroupCommit.make(conn, () => Effect.succeed(lease))
      const key = Buffer.from(`gc${process.pid}/late`)
      assert.isTrue((yield* commits.put(key, "v", 60)).created)
      // The DELETE is acknowledged; then a copy of the put's transaction arrives (an attempt that timed out
      // on a partitioned member, delivered when the partition heals).
      yield* Effect.promise(() => client.kv.deleteRange({ key }))
      const late = yield* Effect.promise(() => client.kv.txn(sent[0]!))
      assert.isFalse(late.succeeded, "the late copy is refused")
      const after = yield* Effect.promise(() => client.kv.range({ key }))
      assert.strictEqual(after.kvs.length, 0, "the deleted key stays deleted")
      // The committer's own next put is not held up by it.
      assert.isTrue((yield* commits.put(key, "w", 60)).created)
      assert.strictEqual(sent.length, 2, "one send for the next put: the refused copy did not move the fence")
    })
  )

  it.scopedLive("a defect fails its round's puts, and the committer goes on with the next", () =>
    Effect.gen(function* () {
      const conn = yield* Connection.make({ endpoints: [server.endpoint], timeout: Duration.seconds(3) })
      const lease = yield* Effect.promise(() =>
        conn.client.leaseClient.leaseGrant({ TTL: 60, ID: 0 }).then((r) => r.ID)
      )
      let asked = 0
      const leaseFor = () => (++asked === 1 ? Effect.dieMessage("a bug in leaseFor") : Effect.succeed(lease))
      const commits = yield* GroupCommit.make(conn, leaseFor)
      const first = yield* Effect.either(commits.put(Buffer.from(`gc${process.pid}/bug`), "v", 60))
      assert.isTrue(Either.isLeft(first), "the first put fails")
      if (Either.isLeft(first)) assert.include(first.left.detail, "a bug in leaseFor")
      const second = yield* commits.put(Buffer.from(`gc${process.pid}/after-bug`), "v", 60)
      assert.isTrue(second.created, "the next put is committed")
    })
  )

  it.scopedLive(
    "a send whose first copy committed unseen is refused by the fence, then sent again, applied, and reports the key created",
    () =>
      Effect.gen(function* () {
        const real = yield* Connection.make({ endpoints: [server.endpoint], timeout: Duration.seconds(3) })
        const { client } = real
        const lease = yield* Effect.promise(() =>
          client.leaseClient.leaseGrant({ TTL: 60, ID: 0 }).then((r) => r.ID)
        )
        let sends = 0
        // The first transaction commits but its answer is lost, and etcd's client sends it again (another member).
        const conn = sendingThrough(real, (req, txn) =>
          ++sends === 1 ? txn(req).then(() => txn(req)) : txn(req)
        )
        const commits = yield* GroupCommit.make(conn, () => Effect.succeed(lease))
        const key = Buffer.from(`gc${process.pid}/unseen`)
        const committed = yield* commits.put(key, "v", 60)
        assert.strictEqual(sends, 2, "the second copy was refused, and the batch sent once more")
        assert.isTrue(committed.created, "created by the copy that applied unseen: not 'updated'")
        const now = yield* Effect.promise(() => client.kv.range({ key }))
        assert.strictEqual(now.kvs[0]?.value.toString(), "v")
        assert.strictEqual(now.kvs[0]?.lease, lease)
      })
  )
})
