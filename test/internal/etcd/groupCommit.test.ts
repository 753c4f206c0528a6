/**
 * Puts committed together (`groupCommit.ts`) against a real etcd: a transaction built before a newer put of its
 * key must not apply late and move the key back to an older lease (which would expire before the newer put's TTL).
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import * as Connection from "../../../src/internal/etcd/connection.js"
import * as GroupCommit from "../../../src/internal/etcd/groupCommit.js"
import { type EtcdServer, etcdAvailable, startEtcd } from "../../support/etcd.js"

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
})
