/**
 * The server's handlers without a socket, on `TestClock`: every route, the
 * 4xx answers, TTL expiry at the boundary, the clamp, long-polls, the entry
 * limit and the metrics. Each test runs over the memory and the SQLite store.
 */
import { assert, describe, it } from "@effect/vitest"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Duration, Effect, Fiber, type Scope, TestClock } from "effect"
import type { KvStoreShape } from "../../src/KvStore.js"
import * as Memory from "../../src/KvStore/Memory.js"
import * as Sqlite from "../../src/KvStore/Sqlite.js"
import type { ServerConfig } from "../../src/Server/Config.js"
import * as Server from "../../src/Server/Server.js"

const TOKEN = "0123456789abcdef0123456789abcdef"
const OTHER = "fedcba9876543210fedcba9876543210"
const C = `/v1/clusters/${TOKEN}`

interface StoreUnderTest {
  readonly name: string
  readonly make: Effect.Effect<Omit<Server.ServerOptions, keyof ServerConfig>, unknown, Scope.Scope>
}

const stores: ReadonlyArray<StoreUnderTest> = [
  {
    name: "memory",
    make: Effect.sync(() => {
      const store = Memory.unsafeMake()
      return { store, stats: store.stats }
    })
  },
  {
    name: "sqlite",
    make: Effect.acquireRelease(
      Effect.sync(() => mkdtempSync(join(tmpdir(), "swarm-server-"))),
      (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
    ).pipe(
      Effect.flatMap((dir) => Sqlite.make({ filename: join(dir, "s.db") })),
      Effect.map((store) => ({
        store,
        stats: store.stats,
        early: { store: store.early, whenDurable: store.whenDurable }
      }))
    )
  }
]

for (const { make, name } of stores) {
  describe(`Server handler over ${name}`, () => {
    const handler = (options: Omit<Server.ServerOptions, "store"> = {}) =>
      Effect.flatMap(make, (opened) => Server.makeHandler({ ...opened, ...options }))

    const call = (h: Server.Handler, method: string, url: string, body = "") => h.handle(method, url, body)
    const listOf = (h: Server.Handler, token = TOKEN) =>
      Effect.map(call(h, "GET", `/v1/clusters/${token}`), (a) => JSON.parse(a.body) as Array<string>)
    const indexOf = (a: Server.Answer) => Number(a.headers?.["X-Discovery-Index"])

    it.scoped("POST /v1/clusters gives a fresh 32-hex token, no newline", () =>
      Effect.gen(function* () {
        const h = yield* handler()
        const a = yield* call(h, "POST", "/v1/clusters")
        const b = yield* call(h, "POST", "/v1/clusters")
        assert.strictEqual(a.status, 200)
        assert.match(a.body, /^[0-9a-f]{32}$/)
        assert.notStrictEqual(a.body, b.body)
        assert.strictEqual(a.contentType.split(";")[0], "text/plain")
      })
    )

    it.scoped("register, list (sorted, JSON, with index), delete one, delete all", () =>
      Effect.gen(function* () {
        const h = yield* handler()
        for (const addr of ["10.0.0.2:2375", " 10.0.0.1:2375\n", "[2001:db8::1]:2375"]) {
          const r = yield* call(h, "POST", `${C}?ttl=60`, addr)
          assert.strictEqual(r.status, 200)
          assert.strictEqual(r.body, "OK")
        }
        const list = yield* call(h, "GET", C)
        assert.strictEqual(list.status, 200)
        assert.strictEqual(list.contentType, "application/json")
        assert.deepStrictEqual(JSON.parse(list.body), [
          "10.0.0.1:2375",
          "10.0.0.2:2375",
          "[2001:db8::1]:2375"
        ])
        assert.isTrue(Number.isInteger(indexOf(list)))
        // Another cluster is separate.
        assert.deepStrictEqual(yield* listOf(h, OTHER), [])
        // Upper-case tokens name the same cluster.
        assert.deepStrictEqual(yield* listOf(h, TOKEN.toUpperCase()), JSON.parse(list.body))

        const one = yield* call(h, "DELETE", `${C}/${encodeURIComponent("[2001:db8::1]:2375")}`)
        assert.strictEqual(one.status, 200)
        assert.deepStrictEqual(yield* listOf(h), ["10.0.0.1:2375", "10.0.0.2:2375"])
        const again = yield* call(h, "DELETE", `${C}/${encodeURIComponent("[2001:db8::1]:2375")}`)
        assert.strictEqual(again.status, 404)
        assert.include(again.body, "[2001:db8::1]:2375")

        const all = yield* call(h, "DELETE", C)
        assert.strictEqual(all.status, 200)
        assert.deepStrictEqual(yield* listOf(h), [])
        // Deleting an empty or unknown cluster is fine too.
        assert.strictEqual((yield* call(h, "DELETE", `/v1/clusters/${OTHER}`)).status, 200)
      })
    )

    it.scoped("an address is canonicalised, so a re-registration refreshes instead of duplicating", () =>
      Effect.gen(function* () {
        const h = yield* handler()
        yield* call(h, "POST", C, "node1:02375")
        yield* call(h, "POST", C, "node1:2375")
        assert.deepStrictEqual(yield* listOf(h), ["node1:2375"])
      })
    )

    it.scoped("healthz", () =>
      Effect.gen(function* () {
        const h = yield* handler()
        const r = yield* call(h, "GET", "/healthz")
        assert.strictEqual(r.status, 200)
        assert.strictEqual(r.body, "OK")
      })
    )

    it.scoped("an entry is listed 1ms before its TTL and gone at it", () =>
      Effect.gen(function* () {
        const h = yield* handler()
        yield* call(h, "POST", `${C}?ttl=30`, "10.0.0.1:2375")
        yield* TestClock.adjust(Duration.millis(29_999))
        assert.deepStrictEqual(yield* listOf(h), ["10.0.0.1:2375"])
        yield* TestClock.adjust(Duration.millis(1))
        assert.deepStrictEqual(yield* listOf(h), [])
      })
    )

    it.scoped("TTLs are clamped to [min, max] and default when absent", () =>
      Effect.gen(function* () {
        const h = yield* handler({ minTtl: "5 seconds", maxTtl: "100 seconds", defaultTtl: "20 seconds" })
        yield* call(h, "POST", `${C}?ttl=0`, "10.0.0.1:1") // raised to 5s
        yield* call(h, "POST", `${C}?ttl=1000`, "10.0.0.2:1") // lowered to 100s
        yield* call(h, "POST", C, "10.0.0.3:1") // 20s
        yield* call(h, "POST", `${C}?ttl=1m`, "10.0.0.4:1") // Go syntax: 60s
        yield* TestClock.adjust(Duration.millis(4_999))
        assert.deepStrictEqual(yield* listOf(h), ["10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1", "10.0.0.4:1"])
        yield* TestClock.adjust(Duration.millis(1))
        assert.deepStrictEqual(yield* listOf(h), ["10.0.0.2:1", "10.0.0.3:1", "10.0.0.4:1"])
        yield* TestClock.adjust(Duration.seconds(15))
        assert.deepStrictEqual(yield* listOf(h), ["10.0.0.2:1", "10.0.0.4:1"])
        yield* TestClock.adjust(Duration.seconds(40))
        assert.deepStrictEqual(yield* listOf(h), ["10.0.0.2:1"])
        yield* TestClock.adjust(Duration.seconds(39))
        assert.deepStrictEqual(yield* listOf(h), ["10.0.0.2:1"])
        yield* TestClock.adjust(Duration.seconds(1))
        assert.deepStrictEqual(yield* listOf(h), [])
      })
    )

    it.scoped("max-entries: 409 for a new entry, refreshes still pass", () =>
      Effect.gen(function* () {
        const h = yield* handler({ maxEntries: 2 })
        assert.strictEqual((yield* call(h, "POST", `${C}?ttl=10`, "10.0.0.1:1")).status, 200)
        assert.strictEqual((yield* call(h, "POST", `${C}?ttl=20`, "10.0.0.2:1")).status, 200)
        const full = yield* call(h, "POST", `${C}?ttl=10`, "10.0.0.3:1")
        assert.strictEqual(full.status, 409)
        assert.include(full.body, "full")
        assert.include(full.body, "10.0.0.3:1")
        assert.notInclude(full.body, TOKEN, "the token is not echoed in full")
        assert.strictEqual((yield* call(h, "POST", `${C}?ttl=10`, "10.0.0.1:1")).status, 200)
        // Other clusters have their own room.
        assert.strictEqual((yield* call(h, "POST", `/v1/clusters/${OTHER}`, "10.0.0.3:1")).status, 200)
        // Once one expires, there is room.
        yield* TestClock.adjust(Duration.seconds(20))
        assert.strictEqual((yield* call(h, "POST", `${C}?ttl=10`, "10.0.0.3:1")).status, 200)
        const metrics = (yield* call(h, "GET", "/metrics")).body
        assert.include(metrics, 'swarm_discovery_refused_registrations_total{reason="limit"} 1')
      })
    )

    describe("long-poll", () => {
      const poll = (h: Server.Handler, index: number, wait = "30s") =>
        Effect.fork(call(h, "GET", `${C}?index=${index}&wait=${wait}`))

      it.scoped("answers at once when the index already differs", () =>
        Effect.gen(function* () {
          const h = yield* handler()
          yield* call(h, "POST", C, "10.0.0.1:1")
          const current = indexOf(yield* call(h, "GET", C))
          const r = yield* call(h, "GET", `${C}?index=${current - 1}&wait=30s`)
          assert.deepStrictEqual(JSON.parse(r.body), ["10.0.0.1:1"])
          assert.strictEqual(indexOf(r), current)
          assert.strictEqual(r.route, "watch")
        })
      )

      it.scoped("wakes on a registration", () =>
        Effect.gen(function* () {
          const h = yield* handler()
          const index = indexOf(yield* call(h, "GET", C))
          const fiber = yield* poll(h, index)
          yield* TestClock.adjust(Duration.seconds(1))
          assert.isNull(fiber.unsafePoll(), "still waiting")
          yield* call(h, "POST", C, "10.0.0.1:1")
          const r = yield* Fiber.join(fiber)
          assert.deepStrictEqual(JSON.parse(r.body), ["10.0.0.1:1"])
          assert.isAbove(indexOf(r), index)
        })
      )

      it.scoped("wakes on an expiry, at the TTL", () =>
        Effect.gen(function* () {
          const h = yield* handler()
          yield* call(h, "POST", `${C}?ttl=10`, "10.0.0.1:1")
          const index = indexOf(yield* call(h, "GET", C))
          const fiber = yield* poll(h, index, "1m")
          yield* TestClock.adjust(Duration.millis(9_999))
          assert.isNull(fiber.unsafePoll())
          yield* TestClock.adjust(Duration.millis(1))
          const r = yield* Fiber.join(fiber)
          assert.deepStrictEqual(JSON.parse(r.body), [])
          assert.isAbove(indexOf(r), index)
        })
      )

      it.scoped("wakes on a delete of one entry and of the cluster", () =>
        Effect.gen(function* () {
          const h = yield* handler()
          yield* call(h, "POST", C, "10.0.0.1:1")
          yield* call(h, "POST", C, "10.0.0.2:1")
          const index = indexOf(yield* call(h, "GET", C))
          const first = yield* poll(h, index)
          yield* Effect.yieldNow()
          yield* call(h, "DELETE", `${C}/10.0.0.1:1`)
          const r1 = yield* Fiber.join(first)
          assert.deepStrictEqual(JSON.parse(r1.body), ["10.0.0.2:1"])
          const second = yield* poll(h, indexOf(r1))
          yield* Effect.yieldNow()
          yield* call(h, "DELETE", C)
          const r2 = yield* Fiber.join(second)
          assert.deepStrictEqual(JSON.parse(r2.body), [])
          assert.isAbove(indexOf(r2), indexOf(r1))
        })
      )

      it.scoped("another cluster's change does not answer it", () =>
        Effect.gen(function* () {
          const h = yield* handler()
          yield* call(h, "POST", C, "10.0.0.1:1")
          const index = indexOf(yield* call(h, "GET", C))
          const fiber = yield* poll(h, index, "10s")
          yield* call(h, "POST", `/v1/clusters/${OTHER}`, "10.0.0.9:1")
          yield* TestClock.adjust(Duration.seconds(5))
          assert.isNull(fiber.unsafePoll())
          yield* TestClock.adjust(Duration.seconds(5))
          const r = yield* Fiber.join(fiber)
          assert.deepStrictEqual(JSON.parse(r.body), ["10.0.0.1:1"])
        })
      )

      it.scoped("times out with the current list and the same index", () =>
        Effect.gen(function* () {
          const h = yield* handler()
          yield* call(h, "POST", C, "10.0.0.1:1")
          const index = indexOf(yield* call(h, "GET", C))
          const fiber = yield* poll(h, index, "20")
          yield* TestClock.adjust(Duration.millis(19_999))
          assert.isNull(fiber.unsafePoll())
          yield* TestClock.adjust(Duration.millis(1))
          const r = yield* Fiber.join(fiber)
          assert.strictEqual(r.status, 200)
          assert.deepStrictEqual(JSON.parse(r.body), ["10.0.0.1:1"])
          assert.strictEqual(indexOf(r), index)
        })
      )

      it.scoped("the wait is capped by maxWait", () =>
        Effect.gen(function* () {
          const h = yield* handler({ maxWait: "10 seconds" })
          const index = indexOf(yield* call(h, "GET", C))
          const fiber = yield* poll(h, index, "1h")
          yield* TestClock.adjust(Duration.seconds(10))
          assert.strictEqual((yield* Fiber.join(fiber)).status, 200)
        })
      )

      it.scoped("drain answers waiting long-polls at once, and later ones too", () =>
        Effect.gen(function* () {
          const h = yield* handler()
          yield* call(h, "POST", C, "10.0.0.1:1")
          const index = indexOf(yield* call(h, "GET", C))
          const fiber = yield* poll(h, index, "5m")
          yield* Effect.yieldNow()
          yield* h.drain
          const r = yield* Fiber.join(fiber)
          assert.deepStrictEqual(JSON.parse(r.body), ["10.0.0.1:1"])
          const later = yield* call(h, "GET", `${C}?index=${index}&wait=5m`)
          assert.strictEqual(later.status, 200)
        })
      )

      it.scoped("counts waiting watchers in the metrics", () =>
        Effect.gen(function* () {
          const h = yield* handler()
          const index = indexOf(yield* call(h, "GET", C))
          const fiber = yield* poll(h, index)
          yield* Effect.yieldNow()
          assert.include((yield* call(h, "GET", "/metrics")).body, "swarm_discovery_watchers 1\n")
          yield* Fiber.interrupt(fiber)
          assert.include((yield* call(h, "GET", "/metrics")).body, "swarm_discovery_watchers 0\n")
        })
      )
    })

    it.scoped("every 4xx of the API", () =>
      Effect.gen(function* () {
        const h = yield* handler()
        const cases: ReadonlyArray<readonly [string, string, string, number, string]> = [
          ["GET", "/", "", 404, "no such route"],
          ["GET", "/v2/clusters", "", 404, "no such route"],
          ["GET", "/v1/clusters", "", 405, "POST"],
          ["PUT", "/v1/clusters", "", 405, "POST"],
          ["PUT", C, "", 405, "GET, POST or DELETE"],
          ["GET", `${C}/10.0.0.1:1`, "", 405, "DELETE"],
          ["POST", "/healthz", "", 405, "GET"],
          ["DELETE", "/metrics", "", 405, "GET"],
          ["GET", "/v1/clusters/abc", "", 400, "32 hexadecimal"],
          ["GET", `/v1/clusters/${TOKEN}0`, "", 400, "32 hexadecimal"],
          ["GET", `/v1/clusters/${"g".repeat(32)}`, "", 400, "32 hexadecimal"],
          ["DELETE", `/v1/clusters/xyz/10.0.0.1:1`, "", 400, "token"],
          ["POST", C, "", 400, "empty address"],
          ["POST", C, "10.0.0.1", 400, "missing port"],
          ["POST", C, "10.0.0.1:0", 400, "out of range"],
          ["POST", C, "10.0.0.1:70000", 400, "out of range"],
          ["POST", C, "::1:80", 400, "too many colons"],
          ["POST", C, '"10.0.0.1:80"', 400, "characters"],
          ["POST", `${C}?ttl=-5`, "10.0.0.1:1", 400, "invalid ttl"],
          ["POST", `${C}?ttl=abc`, "10.0.0.1:1", 400, "invalid ttl"],
          ["POST", `${C}?ttl=1.5`, "10.0.0.1:1", 400, "invalid ttl"],
          ["POST", `${C}?ttl=1&ttl=2`, "10.0.0.1:1", 400, "more than once"],
          ["GET", `${C}?index=x`, "", 400, "invalid index"],
          ["GET", `${C}?index=-1`, "", 400, "invalid index"],
          ["GET", `${C}?index=1&wait=soon`, "", 400, "invalid wait"],
          ["GET", `${C}?index=1&wait=-1s`, "", 400, "invalid wait"],
          ["GET", `${C}?wait=10s`, "", 400, "needs index"],
          ["DELETE", `${C}/%E0%A4%A`, "", 400, "percent-encoding"],
          ["DELETE", `${C}/nope`, "", 400, "missing port"]
        ]
        for (const [method, url, body, status, text] of cases) {
          const r = yield* call(h, method, url, body)
          assert.strictEqual(r.status, status, `${method} ${url} ${JSON.stringify(body)}: ${r.body}`)
          assert.include(r.body, text, `${method} ${url}`)
          assert.strictEqual(r.contentType.split(";")[0], "text/plain")
        }
        const allow = yield* call(h, "PUT", "/v1/clusters")
        assert.strictEqual(allow.headers?.["Allow"], "POST")
        // Nothing was stored by any of them.
        assert.deepStrictEqual(yield* listOf(h), [])
      })
    )

    it.scoped("metrics: requests by route and status, latency, registrations, store figures", () =>
      Effect.gen(function* () {
        const h = yield* handler()
        // The handler alone does not observe requests (the listener does); record like it.
        const observed = (method: string, url: string, body = "") =>
          Effect.tap(call(h, method, url, body), (a) =>
            Effect.sync(() => h.metrics.observe(a.route, a.status, 0.002))
          )
        yield* observed("POST", C, "10.0.0.1:1")
        yield* observed("POST", C, "10.0.0.1:1")
        yield* observed("POST", `${C}?ttl=5`, "10.0.0.2:1")
        yield* observed("GET", C)
        yield* observed("GET", "/v1/clusters/bad")
        yield* call(h, "DELETE", `${C}/10.0.0.1:1`)
        yield* TestClock.adjust(Duration.seconds(5))
        const body = (yield* call(h, "GET", "/metrics")).body
        assert.include(body, 'swarm_discovery_requests_total{route="register",status="200"} 3')
        assert.include(body, 'swarm_discovery_requests_total{route="list",status="200"} 1')
        assert.include(body, 'swarm_discovery_requests_total{route="list",status="400"} 1')
        assert.include(body, 'swarm_discovery_request_duration_seconds_bucket{route="register",le="0.001"} 0')
        assert.include(
          body,
          'swarm_discovery_request_duration_seconds_bucket{route="register",le="0.0025"} 3'
        )
        assert.include(body, 'swarm_discovery_request_duration_seconds_count{route="register"} 3')
        assert.include(body, 'swarm_discovery_registrations_total{result="created"} 2')
        assert.include(body, 'swarm_discovery_registrations_total{result="updated"} 1')
        assert.include(body, "swarm_discovery_deregistrations_total 1\n")
        assert.include(body, "swarm_discovery_entries 0\n")
        assert.include(body, "swarm_discovery_expirations_total 1\n")
        assert.include(body, "# TYPE swarm_discovery_request_duration_seconds histogram")
        assert.notInclude(body, TOKEN)
        // Every sample line is `name{labels} number`.
        for (const line of body.split("\n").filter((l) => l !== "" && !l.startsWith("#"))) {
          assert.match(line, /^[a-z_]+(\{[^}]*\})? [0-9.e+-]+$/, line)
        }
      })
    )
  })
}

describe("Server handler, store trouble", () => {
  it.scoped("a failing store gives 503, never 500", () =>
    Effect.gen(function* () {
      const { KvError } = yield* Effect.promise(() => import("../../src/KvStore.js"))
      const broken = new KvError({ store: "test", reason: "Unavailable", detail: "disk on fire" })
      const store: KvStoreShape = {
        put: () => Effect.fail(broken),
        delete: () => Effect.fail(broken),
        deletePrefix: () => Effect.fail(broken),
        list: () => Effect.fail(broken),
        watch: () => Effect.fail(broken) as never
      }
      const h = yield* Server.makeHandler({ store, stats: Effect.fail(broken) })
      for (const [method, url, body] of [
        ["POST", C, "10.0.0.1:1"],
        ["GET", C, ""],
        ["GET", `${C}?index=1&wait=1s`, ""],
        ["DELETE", C, ""],
        ["DELETE", `${C}/10.0.0.1:1`, ""],
        ["GET", "/metrics", ""]
      ] as const) {
        const r = yield* h.handle(method, url, body)
        assert.strictEqual(r.status, 503, `${method} ${url}`)
        // The cause is for the operator's log (Failures.test.ts), not for the client.
        assert.notInclude(r.body, "disk on fire")
      }
    })
  )

  it.scoped("an early write whose commit fails is answered 503, not OK", () =>
    Effect.gen(function* () {
      const { KvError } = yield* Effect.promise(() => import("../../src/KvStore.js"))
      const store = Memory.unsafeMake()
      const broken = new KvError({ store: "test", reason: "Unavailable", detail: "commit failed" })
      const h = yield* Server.makeHandler({
        store,
        early: { store, whenDurable: (callback) => callback(broken) }
      })
      const early = yield* h.handleEarly("POST", C, "10.0.0.1:1")
      assert.isTrue(early.pending, "the listener must wait for the commit")
      const settled = yield* h.handle("POST", C, "10.0.0.1:1")
      assert.strictEqual(settled.status, 503)
      assert.notInclude(settled.body, "commit failed")
      assert.include(settled.body, "try again later")
    })
  )
})
