/**
 * The global bounds over a real etcd shared by two servers (HA): totals are etcd's, so one instance refuses
 * a new entry or cluster because of what the other one wrote, with the same status, Retry-After and message
 * as on one machine, while refreshes of existing entries still pass.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Etcd from "../../src/KvStore/Etcd.js"
import * as Server from "../../src/Server/Server.js"
import { type EtcdServer, etcdAvailable, startEtcd } from "../support/etcd.js"

const available = etcdAvailable()
let etcd: EtcdServer

const token = (i: number) => i.toString(16).padStart(32, "0")
const at = (i: number) => `/v1/clusters/${token(i)}`
const post = (h: Server.Handler, path: string, body: string) =>
  h.handle("POST", `${path}?ttl=60`, body, undefined, "192.0.2.1")

/** Two handlers over one etcd prefix: each its own instance, with its own count of etcd's totals. */
const pair = (prefix: string, bounds: Omit<Server.ServerOptions, "store">) => {
  const open = Effect.flatMap(
    Etcd.make({ endpoints: [etcd.endpoint], prefix, timeout: "5 seconds" }),
    (store) => Server.makeHandler({ store, stats: store.stats, maxNewClustersPerMinute: 100, ...bounds })
  )
  return Effect.all([open, open])
}

describe.skipIf(!available)("Server bounds over etcd (two servers)", () => {
  beforeAll(async () => {
    etcd = await startEtcd()
  })
  afterAll(async () => {
    await etcd?.dispose()
  })

  it.scopedLive(
    "--max-total-entries counts the other instance's entries: 507 for a new one, refreshes pass",
    () =>
      Effect.gen(function* () {
        const [a, b] = yield* pair(`bounds-total-${process.pid}`, { maxTotalEntries: 3 })
        for (const [cluster, address] of [
          [1, "10.0.0.1:1"],
          [1, "10.0.0.2:1"],
          [2, "10.0.0.1:1"]
        ] as const)
          assert.strictEqual((yield* post(b, at(cluster), address)).status, 200)
        // A has written nothing: its first count is etcd's, which holds B's three entries.
        const refused = yield* post(a, at(1), "10.0.0.3:1")
        assert.strictEqual(refused.status, 507, refused.body)
        assert.include(refused.body, "--max-total-entries (3)")
        assert.strictEqual(refused.headers?.["Retry-After"], "60")
        assert.strictEqual((yield* post(a, at(1), "10.0.0.1:1")).status, 200, "a refresh through A passes")
        const listed = yield* a.handle("GET", at(1), "")
        assert.deepStrictEqual(
          JSON.parse(listed.body),
          ["10.0.0.1:1", "10.0.0.2:1"],
          "the refused entry was not kept"
        )
        const metrics = (yield* a.handle("GET", "/metrics", "")).body
        assert.include(metrics, 'swarm_discovery_bound_refusals_total{bound="total_entries"} 1\n')
      })
  )

  it.scopedLive(
    "--max-clusters counts the other instance's clusters: 507 for a new one, old ones still grow",
    () =>
      Effect.gen(function* () {
        const [a, b] = yield* pair(`bounds-clusters-${process.pid}`, { maxClusters: 2 })
        assert.strictEqual((yield* post(b, at(1), "10.0.0.1:1")).status, 200)
        assert.strictEqual((yield* post(b, at(2), "10.0.0.1:1")).status, 200)
        const refused = yield* post(a, at(3), "10.0.0.1:1")
        assert.strictEqual(refused.status, 507, refused.body)
        assert.include(refused.body, "--max-clusters (2)")
        assert.strictEqual(refused.headers?.["Retry-After"], "60")
        assert.strictEqual(
          (yield* post(a, at(1), "10.0.0.2:1")).status,
          200,
          "a cluster B made grows through A"
        )
        assert.deepStrictEqual(JSON.parse((yield* b.handle("GET", at(3), "")).body), [])
      })
  )
})
