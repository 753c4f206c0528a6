/**
 * The global bounds, each past its limit: the status, Retry-After and a
 * message naming the flag, the refusal counted in /metrics, and existing
 * clusters unaffected. The per-minute rate runs on TestClock.
 */
import { assert, describe, it } from "@effect/vitest"
import { connect } from "node:net"
import { Effect, Fiber, TestClock } from "effect"
import * as Memory from "../../src/KvStore/Memory.js"
import * as Server from "../../src/Server/Server.js"
import { request } from "../support/http.js"

const token = (i: number) => i.toString(16).padStart(32, "0")
const at = (i: number) => `/v1/clusters/${token(i)}`
const A = "192.0.2.1"
const B = "192.0.2.2"

const handler = (options: Omit<Server.ServerOptions, "store"> = {}) =>
  Effect.suspend(() => {
    const store = Memory.unsafeMake()
    return Server.makeHandler({ store, stats: store.stats, ...options })
  })

const post = (h: Server.Handler, path: string, body: string, client = A) =>
  h.handle("POST", path, body, undefined, client)
const listOf = (h: Server.Handler, path: string) =>
  Effect.map(h.handle("GET", path, ""), (a) => JSON.parse(a.body) as Array<string>)
const metricsOf = (h: Server.Handler) => Effect.map(h.handle("GET", "/metrics", ""), (a) => a.body)

describe("Server bounds", () => {
  it.scoped("--max-total-entries: 507 for a new entry anywhere; refreshes and reads pass", () =>
    Effect.gen(function* () {
      const h = yield* handler({ maxTotalEntries: 3, maxNewClustersPerMinute: 100 })
      assert.strictEqual((yield* post(h, at(1), "10.0.0.1:1")).status, 200)
      assert.strictEqual((yield* post(h, at(1), "10.0.0.2:1")).status, 200)
      assert.strictEqual((yield* post(h, at(2), "10.0.0.1:1")).status, 200)
      for (const [path, addr] of [
        [at(1), "10.0.0.3:1"],
        [at(3), "10.0.0.1:1"]
      ] as const) {
        const refused = yield* post(h, path, addr)
        assert.strictEqual(refused.status, 507)
        assert.include(refused.body, "--max-total-entries (3)")
        assert.strictEqual(refused.headers?.["Retry-After"], "60")
      }
      assert.strictEqual((yield* post(h, at(1), "10.0.0.1:1")).status, 200, "a refresh passes")
      assert.deepStrictEqual(yield* listOf(h, at(1)), ["10.0.0.1:1", "10.0.0.2:1"])
      assert.deepStrictEqual(yield* listOf(h, at(3)), [], "the refused entry was not kept")
      const metrics = yield* metricsOf(h)
      assert.include(metrics, 'swarm_discovery_bound_limit{bound="total_entries"} 3\n')
      assert.include(metrics, 'swarm_discovery_bound_refusals_total{bound="total_entries"} 2\n')
      assert.include(metrics, 'swarm_discovery_server_errors_total{cause="bound_total_entries"} 2\n')
      // Room again once an entry goes.
      yield* h.handle("DELETE", `${at(2)}/10.0.0.1:1`, "")
      yield* TestClock.adjust("1 second")
      assert.strictEqual((yield* post(h, at(3), "10.0.0.1:1")).status, 200)
    })
  )

  it.scoped("--max-clusters: 507 for a new cluster; existing clusters still grow", () =>
    Effect.gen(function* () {
      const h = yield* handler({ maxClusters: 2, maxNewClustersPerMinute: 100 })
      assert.strictEqual((yield* post(h, at(1), "10.0.0.1:1")).status, 200)
      assert.strictEqual((yield* post(h, at(2), "10.0.0.1:1")).status, 200)
      const refused = yield* post(h, at(3), "10.0.0.1:1")
      assert.strictEqual(refused.status, 507)
      assert.include(refused.body, "--max-clusters (2)")
      assert.include(refused.body, "no new cluster")
      // docs/operations.md: 507, Retry-After: 60.
      assert.strictEqual(refused.headers?.["Retry-After"], "60")
      assert.strictEqual((yield* post(h, at(1), "10.0.0.2:1")).status, 200)
      assert.deepStrictEqual(yield* listOf(h, at(3)), [])
      assert.include(yield* metricsOf(h), 'swarm_discovery_bound_refusals_total{bound="clusters"} 1\n')
    })
  )

  it.scoped("--max-new-clusters-per-minute: 429 per client address, refilled over the minute", () =>
    Effect.gen(function* () {
      const h = yield* handler({ maxNewClustersPerMinute: 3 })
      // POST /v1/clusters counts as a new cluster, as does a first registration.
      assert.strictEqual((yield* post(h, "/v1/clusters", "")).status, 200)
      assert.strictEqual((yield* post(h, at(1), "10.0.0.1:1")).status, 200)
      assert.strictEqual((yield* post(h, at(2), "10.0.0.1:1")).status, 200)
      const refused = yield* post(h, at(3), "10.0.0.1:1")
      assert.strictEqual(refused.status, 429)
      assert.include(refused.body, "--max-new-clusters-per-minute (3)")
      assert.strictEqual(refused.headers?.["Retry-After"], "20")
      assert.strictEqual((yield* post(h, "/v1/clusters", "")).status, 429)
      // The same client's existing clusters keep working; another client is not affected.
      assert.strictEqual((yield* post(h, at(1), "10.0.0.2:1")).status, 200)
      assert.strictEqual((yield* post(h, at(4), "10.0.0.1:1", B)).status, 200)
      // One new cluster every 20 s comes back.
      yield* TestClock.adjust("19 seconds")
      assert.strictEqual((yield* post(h, at(3), "10.0.0.1:1")).status, 429)
      yield* TestClock.adjust("1 second")
      assert.strictEqual((yield* post(h, at(3), "10.0.0.1:1")).status, 200)
      assert.include(yield* metricsOf(h), "swarm_discovery_new_clusters_total 5\n")
    })
  )

  it.scoped("with the defaults, one client registering into random clusters is refused", () =>
    Effect.gen(function* () {
      const h = yield* handler()
      const statuses = new Map<number, number>()
      for (let i = 1; i <= 200; i++) {
        const s = (yield* post(h, at(i), "10.0.0.1:2375")).status
        statuses.set(s, (statuses.get(s) ?? 0) + 1)
      }
      assert.strictEqual(statuses.get(200), 60)
      assert.strictEqual(statuses.get(429), 140)
    })
  )

  it.scoped("--max-long-polls (503) and --max-long-polls-per-client (429)", () =>
    Effect.gen(function* () {
      const h = yield* handler({ maxLongPolls: 3, maxLongPollsPerClient: 2 })
      const poll = (client: string) =>
        h.handle("GET", `${at(1)}?index=999999&wait=30s`, "", undefined, client)
      // An index the cluster does not have: answered at once, so first learn the real one.
      const index = (yield* h.handle("GET", at(1), "")).headers?.["X-Discovery-Index"]
      const wait = (client: string) =>
        h.handle("GET", `${at(1)}?index=${index}&wait=30s`, "", undefined, client)
      const a1 = yield* Effect.fork(wait(A))
      const a2 = yield* Effect.fork(wait(A))
      yield* TestClock.adjust("1 millis")
      const perClient = yield* wait(A)
      assert.strictEqual(perClient.status, 429)
      assert.include(perClient.body, "--max-long-polls-per-client (2)")
      // docs/operations.md: 429, Retry-After: 5.
      assert.strictEqual(perClient.headers?.["Retry-After"], "5")
      const b1 = yield* Effect.fork(wait(B))
      yield* TestClock.adjust("1 millis")
      const total = yield* wait(B)
      assert.strictEqual(total.status, 503)
      assert.include(total.body, "--max-long-polls (3)")
      assert.strictEqual(total.headers?.["Retry-After"], "5")
      // Plain reads and writes still work, and wake the waiters.
      assert.strictEqual((yield* post(h, at(1), "10.0.0.1:1")).status, 200)
      for (const f of [a1, a2, b1]) assert.strictEqual((yield* Fiber.join(f)).status, 200)
      assert.strictEqual((yield* poll(A)).status, 200)
    })
  )

  it.live("--max-connections: a connection past it gets 503 with Retry-After; others are served", () =>
    Effect.gen(function* () {
      const store = Memory.unsafeMake()
      const server = yield* Server.listen({ port: 0, store, maxConnections: 2 })
      // Two idle connections hold the bound.
      const held = yield* Effect.promise(() =>
        Promise.all(
          [1, 2].map(
            () =>
              new Promise<ReturnType<typeof connect>>((resolve) => {
                const socket = connect({ host: "127.0.0.1", port: server.port }, () => resolve(socket))
              })
          )
        )
      )
      yield* Effect.sleep("100 millis")
      const refused = yield* Effect.promise(() => request(server.origin, "/healthz"))
      assert.strictEqual(refused.status, 503)
      assert.include(refused.body, "--max-connections (2)")
      assert.strictEqual(refused.headers["retry-after"], "1")
      for (const socket of held) socket.destroy()
      yield* Effect.sleep("100 millis")
      assert.strictEqual((yield* Effect.promise(() => request(server.origin, "/healthz"))).status, 200)
      const metrics = yield* Effect.promise(() => request(server.origin, "/metrics"))
      assert.include(metrics.body, 'swarm_discovery_bound_refusals_total{bound="connections"} 1\n')
      assert.match(metrics.body, /^swarm_discovery_connections 1$/m)
    }).pipe(Effect.scoped)
  )
})
