/**
 * Per-key leases (`leases.ts`) against a real etcd: a DELETE acknowledged through one instance is not undone
 * by a late copy of a put that another instance sent before it. etcd may apply a copy of a write after its
 * answer came through another attempt (the HA suite saw one: a create sent to an etcd leader paused by
 * SIGSTOP, retried on another member and acknowledged, applied again when the old leader ran). A missing key
 * passes the create's "does not exist" compare again; the delete ends the key's lease first, so the copy,
 * which names that lease, is refused.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import type { KVClient } from "etcd3"
import * as Connection from "../../../src/internal/etcd/connection.js"
import * as Counts from "../../../src/internal/etcd/counts.js"
import * as Followed from "../../../src/internal/etcd/followed.js"
import * as KeepAlive from "../../../src/internal/etcd/keepAlive.js"
import * as Leases from "../../../src/internal/etcd/leases.js"
import * as Requests from "../../../src/internal/etcd/requests.js"
import { type EtcdServer, etcdAvailable, startEtcd } from "../../support/etcd.js"

type TxnRequest = Parameters<KVClient["txn"]>[0]
type PutRequest = Parameters<KVClient["put"]>[0]

const available = etcdAvailable()
let server: EtcdServer
let run = 0
const TTL = { ttl: "60 seconds" } as const

/** What one instance sent etcd: its transactions and puts, to be replayed as late copies. */
interface Sent {
  readonly txns: Array<TxnRequest>
  readonly puts: Array<PutRequest>
}

/** One instance's writes with per-key leases, its own connection, what it sends recorded. */
const instance = (prefix: string) =>
  Effect.gen(function* () {
    const conn = yield* Connection.make({
      endpoints: [server.endpoint],
      prefix,
      timeout: Duration.seconds(5)
    })
    const sent: Sent = { txns: [], puts: [] }
    // Creates are transactions; a put of a new value goes through the client that sends once.
    const [kv, once] = [conn.client.kv, conn.onceClient.kv]
    const [txn, put] = [kv.txn.bind(kv), once.put.bind(once)]
    kv.txn = (req) => (sent.txns.push(req), txn(req))
    once.put = (req) => (sent.puts.push(req), put(req))
    const writes = yield* Leases.make(
      conn,
      yield* KeepAlive.make(conn),
      Counts.make(Requests.make(conn).count),
      Followed.make()
    )
    return { conn, writes, sent }
  })

/** Sends `request` again as etcd would apply a late copy; whether it applied (a refusal or an error: no). */
const replay = (send: () => Promise<object>) =>
  Effect.promise(() =>
    send().then(
      (res) => !("succeeded" in res) || res.succeeded !== false,
      () => false
    )
  )

describe.skipIf(!available)("internal/etcd/leases: a delete ends the key's lease (real etcd)", () => {
  beforeAll(async () => {
    server = await startEtcd()
  })
  afterAll(async () => {
    await server?.dispose()
  })

  it.scopedLive("a late copy of a create acknowledged before a DELETE does not bring the entry back", () =>
    Effect.gen(function* () {
      const prefix = `lend${process.pid}-${++run}/`
      const [s1, s2] = [yield* instance(prefix), yield* instance(prefix)]
      const raw = s1.conn.client.kv
      assert.strictEqual(yield* s1.writes.put("c/a", "v", TTL), "created")
      const create = s1.sent.txns.at(-1)!
      assert.isTrue(yield* s2.writes.remove("c/a"), "the entry existed")
      assert.isFalse(yield* replay(() => raw.txn(create)), "the late create is refused")
      const now = yield* Effect.promise(() => raw.range({ key: s1.conn.fullKey("c/a") }))
      assert.strictEqual(now.kvs.length, 0, "the deleted entry stays deleted")
      // The instance that created it registers it again when its next heartbeat comes: on a new lease.
      assert.strictEqual(yield* s1.writes.put("c/a", "v", TTL), "created")
      const again = yield* Effect.promise(() => raw.range({ key: s1.conn.fullKey("c/a") }))
      assert.notStrictEqual(again.kvs[0]?.lease, create.success?.[0]?.request_put?.lease)
    })
  )

  it.scopedLive("a late copy of a put of a new value on the entry's lease is refused after a DELETE", () =>
    Effect.gen(function* () {
      const prefix = `lend${process.pid}-${++run}/`
      const [s1, s2] = [yield* instance(prefix), yield* instance(prefix)]
      const raw = s1.conn.client.kv
      yield* s1.writes.put("c/a", "v", TTL)
      assert.strictEqual(yield* s1.writes.put("c/a", "w", TTL), "updated")
      const changed = s1.sent.puts.at(-1)!
      assert.strictEqual(changed.value?.toString(), "w", "a new value is a put on the entry's lease")
      assert.isTrue(yield* s2.writes.remove("c/a"))
      assert.isFalse(yield* replay(() => raw.put(changed)), "the late put is refused")
      const now = yield* Effect.promise(() => raw.range({ key: s1.conn.fullKey("c/a") }))
      assert.strictEqual(now.kvs.length, 0)
    })
  )

  it.scopedLive("a late copy of a create does not bring an entry back after its cluster was deleted", () =>
    Effect.gen(function* () {
      const prefix = `lend${process.pid}-${++run}/`
      const [s1, s2] = [yield* instance(prefix), yield* instance(prefix)]
      const raw = s1.conn.client.kv
      yield* s1.writes.put("c/a", "v", TTL)
      const create = s1.sent.txns.at(-1)!
      yield* s2.writes.put("c/b", "v", TTL)
      yield* s2.writes.put("d/a", "v", TTL)
      assert.strictEqual(yield* s2.writes.removePrefix("c/"), 2, "both entries of the cluster")
      assert.isFalse(yield* replay(() => raw.txn(create)), "the late create is refused")
      const now = yield* Effect.promise(() => raw.range(s1.conn.prefixRange("")))
      assert.deepStrictEqual(
        now.kvs.map((kv) => s1.conn.userKey(kv.key)),
        ["d/a"],
        "the other cluster's entry stays"
      )
    })
  )

  it.scopedLive(
    "a lease found gone by the revoke (its answer lost, sent again) does not fail the DELETE",
    () =>
      Effect.gen(function* () {
        const prefix = `lend${process.pid}-${++run}/`
        const [s1, s2] = [yield* instance(prefix), yield* instance(prefix)]
        yield* s1.writes.put("c/a", "v", TTL)
        const leases = s2.conn.client.leaseClient
        const revoke = leases.leaseRevoke.bind(leases)
        // The first attempt revokes it and its answer is lost; the second finds the lease not found.
        leases.leaseRevoke = (req) => revoke(req).then(() => revoke(req))
        assert.isTrue(yield* s2.writes.remove("c/a"))
        const now = yield* Effect.promise(() => s1.conn.client.kv.range({ key: s1.conn.fullKey("c/a") }))
        assert.strictEqual(now.kvs.length, 0)
      })
  )

  it.scopedLive("an entry put without a TTL is deleted as before, and a second delete finds nothing", () =>
    Effect.gen(function* () {
      const prefix = `lend${process.pid}-${++run}/`
      const [s1, s2] = [yield* instance(prefix), yield* instance(prefix)]
      yield* s1.writes.put("c/plain", "v")
      yield* s1.writes.put("c/leased", "v", TTL)
      assert.strictEqual(yield* s2.writes.removePrefix("c/"), 2)
      assert.isFalse(yield* s2.writes.remove("c/leased"))
      assert.strictEqual(yield* s2.writes.removePrefix("c/"), 0)
    })
  )
})
