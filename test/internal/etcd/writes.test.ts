/**
 * Deletes (`writes.ts`) against a real etcd: a late copy of an acknowledged DELETE (an attempt that timed out
 * on a member cut off by a partition, delivered when it heals) must not take away a put acknowledged since.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import * as Connection from "../../../src/internal/etcd/connection.js"
import { type EtcdServer, etcdAvailable, startEtcd } from "../../support/etcd.js"
import { writesOver } from "../../support/etcdWrites.js"

type Kv = Connection.Connection["client"]["kv"]
type TxnRequest = Parameters<Kv["txn"]>[0]

const available = etcdAvailable()
let server: EtcdServer

/** `conn` whose transactions are recorded in `sent`. */
const recording = (conn: Connection.Connection, sent: Array<TxnRequest>): Connection.Connection =>
  ({
    ...conn,
    // Deletes go through the client that sends once.
    onceClient: { kv: { txn: (req: TxnRequest) => (sent.push(req), conn.onceClient.kv.txn(req)) } }
  }) as never

describe.skipIf(!available)("internal/etcd/writes: deletes (real etcd)", () => {
  beforeAll(async () => {
    server = await startEtcd()
  })
  afterAll(async () => {
    await server?.dispose()
  })

  it.scopedLive("a late copy of an acknowledged delete does not take away a put acknowledged since", () =>
    Effect.gen(function* () {
      const real = yield* Connection.make({ endpoints: [server.endpoint], timeout: Duration.seconds(3) })
      const { client } = real
      const key = Buffer.from(`w${process.pid}/late`)
      yield* Effect.promise(() => client.kv.put({ key, value: Buffer.from("first") }))
      const sent: Array<TxnRequest> = []
      const writes = writesOver(recording(real, sent))
      assert.isTrue(yield* writes.remove(key.toString()))
      // The entry registers again, acknowledged; then a copy of the delete arrives.
      yield* Effect.promise(() => client.kv.put({ key, value: Buffer.from("again") }))
      const late = yield* Effect.promise(() => client.kv.txn(sent.at(-1)!))
      assert.isFalse(late.succeeded, "the late copy is refused")
      const now = yield* Effect.promise(() => client.kv.range({ key }))
      assert.strictEqual(now.kvs[0]?.value.toString(), "again", "the put acknowledged after the delete stays")
    })
  )

  it.scopedLive("a delete knowing less than the key's last write is sent again and deletes it", () =>
    Effect.gen(function* () {
      const real = yield* Connection.make({ endpoints: [server.endpoint], timeout: Duration.seconds(3) })
      const key = Buffer.from(`w${process.pid}/unknown`)
      // Written outside this connection: it has seen no revision yet, so its first send is refused.
      yield* Effect.promise(() => real.client.kv.put({ key, value: Buffer.from("v") }))
      const sent: Array<TxnRequest> = []
      const writes = writesOver(recording(real, sent))
      assert.isTrue(yield* writes.remove(key.toString()), "deleted, and it existed")
      assert.strictEqual(sent.length, 2, "refused once, then sent knowing etcd's revision")
      const now = yield* Effect.promise(() => real.client.kv.range({ key }))
      assert.strictEqual(now.kvs.length, 0)
      assert.isFalse(yield* writes.remove(key.toString()), "a second delete finds nothing")
    })
  )

  it.scopedLive("a late copy of a prefix delete does not take away a key put under it since", () =>
    Effect.gen(function* () {
      const real = yield* Connection.make({ endpoints: [server.endpoint], timeout: Duration.seconds(3) })
      const { client } = real
      const prefix = `w${process.pid}-cluster/`
      for (const name of ["a", "b"])
        yield* Effect.promise(() =>
          client.kv.put({ key: Buffer.from(prefix + name), value: Buffer.from("v") })
        )
      const sent: Array<TxnRequest> = []
      const writes = writesOver(recording(real, sent))
      assert.strictEqual(yield* writes.removePrefix(prefix), 2)
      yield* Effect.promise(() => client.kv.put({ key: Buffer.from(`${prefix}c`), value: Buffer.from("v") }))
      const late = yield* Effect.promise(() => client.kv.txn(sent.at(-1)!))
      assert.isFalse(late.succeeded, "the late copy is refused")
      const now = yield* Effect.promise(() => client.kv.range(real.prefixRange(prefix)))
      assert.deepStrictEqual(
        now.kvs.map((kv) => kv.key.toString()),
        [`${prefix}c`]
      )
    })
  )

  it.scopedLive(
    "a key only written again since the revision known (a heartbeat) does not hold a delete up",
    () =>
      Effect.gen(function* () {
        const real = yield* Connection.make({ endpoints: [server.endpoint], timeout: Duration.seconds(3) })
        const { client } = real
        const key = Buffer.from(`w${process.pid}/beating`)
        yield* Effect.promise(() => client.kv.put({ key, value: Buffer.from("v") }))
        const sent: Array<TxnRequest> = []
        const writes = writesOver(recording(real, sent))
        // Any answer tells the connection etcd's revision, which is past the key's creation.
        assert.isFalse(yield* writes.remove(`w${process.pid}/absent`))
        // A heartbeat puts the key again (the shared lease mode writes at every heartbeat).
        yield* Effect.promise(() => client.kv.put({ key, value: Buffer.from("v") }))
        assert.isTrue(yield* writes.remove(key.toString()))
        assert.strictEqual(sent.length, 2, "one send for each delete: none refused")
      })
  )
})
