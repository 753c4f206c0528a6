/**
 * The console's member times over a real etcd shared by two servers (HA): a registration made
 * through one is seen through the other with its registration time and deadline, from etcd's
 * leases (whole seconds).
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Etcd from "../../../src/KvStore/Etcd.js"
import * as Server from "../../../src/Server/Server.js"
import { type EtcdServer, etcdAvailable, startEtcd } from "../../support/etcd.js"

const available = etcdAvailable()
let etcd: EtcdServer

describe.skipIf(!available)("console times over etcd (two servers)", () => {
  beforeAll(async () => {
    etcd = await startEtcd()
  })
  afterAll(async () => {
    await etcd?.dispose()
  })

  it.scopedLive("a registration on one server shows its times on the other", () =>
    Effect.gen(function* () {
      const prefix = `console-${process.pid}`
      const open = Effect.flatMap(
        Etcd.make({ endpoints: [etcd.endpoint], prefix, timeout: "3 seconds" }),
        (store) => Server.makeHandler({ store })
      )
      const a = yield* open
      const b = yield* open
      const token = Server.newToken()
      const before = Date.now()
      const ok = yield* a.handle("POST", `/v1/clusters/${token}?ttl=30`, "10.0.0.1:2375")
      assert.strictEqual(ok.status, 200)
      const answer = yield* b.handle("GET", `/ui/api/clusters/${token}`, "")
      const data = JSON.parse(answer.body) as {
        members: Array<{ address: string; registeredAt: number; expiresAt: number; ttl: number }>
      }
      assert.strictEqual(data.members.length, 1)
      const [m] = data.members
      assert.strictEqual(m!.address, "10.0.0.1:2375")
      assert.strictEqual(m!.ttl, 30_000)
      // etcd reports whole seconds left: allow that rounding and the round trips.
      assert.approximately(m!.expiresAt, before + 30_000, 2_500)
      assert.approximately(m!.registeredAt, before, 2_500)
      // Its overview sees the cluster too.
      const listed = yield* b.handle("GET", "/v1/admin/clusters", "")
      assert.strictEqual(listed.status, 404, "no admin token: off")
    })
  )
})
