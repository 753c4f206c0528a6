/**
 * The console's routes and the admin API without a socket, on `TestClock` and the memory store:
 * off without an admin token (404), 401 without the right one, JSON with it; the cluster data the
 * pages read; the static files' types, caching and Content-Security-Policy.
 */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, TestClock } from "effect"
import * as Memory from "../../../src/KvStore/Memory.js"
import * as Admin from "../../../src/Server/Console/Admin.js"
import * as Assets from "../../../src/Server/Console/Assets.js"
import * as Figures from "../../../src/Server/Console/Figures.js"
import { DEFAULT_MAX_ENTRIES } from "../../../src/Server/Config.js"
import * as Metrics from "../../../src/Server/Metrics.js"
import * as Server from "../../../src/Server/Server.js"

const ADMIN = "s3cret-admin-token-for-tests"
const BEARER = `Bearer ${ADMIN}`
const TOKEN = "0123456789abcdef0123456789abcdef"
const OTHER = "fedcba9876543210fedcba9876543210"

const handler = (adminToken?: string) =>
  Effect.gen(function* () {
    const store = Memory.unsafeMake()
    const h = yield* Server.makeHandler({
      store,
      stats: store.stats,
      ...(adminToken === undefined ? {} : { adminToken })
    })
    return h
  })

const body = (answer: { body: string }) => JSON.parse(answer.body)

describe("admin token check", () => {
  it("accepts only the exact token, as a Bearer credential", () => {
    assert.isTrue(Admin.authorized(ADMIN, BEARER))
    assert.isTrue(Admin.authorized(ADMIN, `bearer  ${ADMIN} `))
    for (const wrong of [
      undefined,
      "",
      ADMIN,
      `Basic ${ADMIN}`,
      "Bearer ",
      `Bearer ${ADMIN.slice(0, -1)}`,
      `Bearer ${ADMIN}x`,
      `Bearer ${ADMIN.toUpperCase()}`,
      `Bearer ${"x".repeat(10_000)}`
    ]) {
      assert.isFalse(Admin.authorized(ADMIN, wrong), String(wrong).slice(0, 40))
    }
  })

  it("compares fixed-size digests, so a wrong length costs the same as a wrong byte", () => {
    // timingSafeEqual throws on buffers of different lengths: these would throw without the digests.
    assert.isFalse(Admin.authorized("a".repeat(64), "Bearer a"))
    assert.isFalse(Admin.authorized("a", `Bearer ${"a".repeat(64)}`))
  })
})

describe("admin API", () => {
  it.scoped("is off (404) without an admin token, and the overview with it", () =>
    Effect.gen(function* () {
      const h = yield* handler()
      for (const url of ["/v1/admin/clusters", "/v1/admin/status", "/ui/"]) {
        const answer = yield* h.handle("GET", url, "", BEARER)
        assert.strictEqual(answer.status, 404, url)
        assert.include(answer.body, "SWARM_ADMIN_TOKEN")
      }
      // Cluster pages do not need it.
      assert.strictEqual((yield* h.handle("GET", `/ui/clusters/${TOKEN}`, "")).status, 200)
    })
  )

  it.scoped("answers 401 without the token or with a wrong one", () =>
    Effect.gen(function* () {
      const h = yield* handler(ADMIN)
      for (const auth of [undefined, "Bearer wrong-token-of-some-length", `Basic ${ADMIN}`]) {
        const answer = yield* h.handle("GET", "/v1/admin/clusters", "", auth)
        assert.strictEqual(answer.status, 401, String(auth))
        assert.strictEqual(answer.headers?.["WWW-Authenticate"], 'Bearer realm="swarm serve admin"')
        assert.notInclude(answer.body, ADMIN)
      }
      const del = yield* h.handle("DELETE", `/v1/admin/clusters/${TOKEN}`, "", "Bearer nope-nope-nope")
      assert.strictEqual(del.status, 401)
    })
  )

  it.scoped("lists clusters with counts and last registration, and deletes one", () =>
    Effect.gen(function* () {
      const h = yield* handler(ADMIN)
      yield* TestClock.adjust(Duration.seconds(1000))
      yield* h.handle("POST", `/v1/clusters/${TOKEN}?ttl=60`, "10.0.0.1:2375")
      yield* TestClock.adjust(Duration.seconds(5))
      yield* h.handle("POST", `/v1/clusters/${TOKEN}?ttl=60`, "10.0.0.2:2375")
      yield* h.handle("POST", `/v1/clusters/${OTHER}?ttl=30`, "10.0.0.3:2375")
      const answer = yield* h.handle("GET", "/v1/admin/clusters", "", BEARER)
      assert.strictEqual(answer.status, 200)
      assert.match(answer.contentType, /^application\/json/)
      assert.strictEqual(answer.headers?.["Cache-Control"], "no-store")
      const listed = body(answer)
      assert.strictEqual(listed.total, 2)
      const byToken = new Map(listed.clusters.map((c: { token: string }) => [c.token, c]))
      assert.deepStrictEqual(byToken.get(TOKEN), {
        token: TOKEN,
        cluster: "0123…",
        entries: 2,
        lastRegistration: 1_005_000
      })
      assert.strictEqual((byToken.get(OTHER) as { entries: number }).entries, 1)

      const status = body(yield* h.handle("GET", "/v1/admin/status", "", BEARER))
      assert.deepStrictEqual(status.totals, { clusters: 2, entries: 3 })
      assert.strictEqual(status.store.ok, true)
      const maxEntries = status.bounds.find((b: { flag?: string }) => b.flag === "--max-entries")
      assert.deepStrictEqual([maxEntries.used, maxEntries.limit], [2, DEFAULT_MAX_ENTRIES])
      assert.strictEqual(status.metrics.registrations, 3)
      // Request counts come from the listener (none here); the route table is there to fill.
      assert.isArray(status.metrics.routes)

      const deleted = yield* h.handle("DELETE", `/v1/admin/clusters/${TOKEN}`, "", BEARER)
      assert.deepStrictEqual(body(deleted), { cluster: "0123…", deleted: 2 })
      assert.strictEqual((yield* h.handle("GET", `/v1/clusters/${TOKEN}`, "")).body, "[]")
      assert.strictEqual(body(yield* h.handle("GET", "/v1/admin/clusters", "", BEARER)).total, 1)
    })
  )

  it.scoped("refuses bad tokens, methods and routes with 4xx", () =>
    Effect.gen(function* () {
      const h = yield* handler(ADMIN)
      const status = (method: string, url: string) =>
        Effect.map(h.handle(method, url, "", BEARER), (a) => a.status)
      assert.strictEqual(yield* status("DELETE", "/v1/admin/clusters/xyz"), 400)
      assert.strictEqual(yield* status("POST", "/v1/admin/clusters"), 405)
      assert.strictEqual(yield* status("GET", `/v1/admin/clusters/${TOKEN}`), 405)
      assert.strictEqual(yield* status("GET", "/v1/admin/nothing"), 404)
      assert.strictEqual(yield* status("POST", "/ui/"), 405)
      assert.strictEqual(yield* status("GET", "/ui/clusters/not-a-token"), 400)
      assert.strictEqual(yield* status("GET", "/ui/assets/cluster.000000000000.js"), 404)
    })
  )
})

describe("console pages and data", () => {
  it.scoped("a cluster's members with last registration, deadline and TTL", () =>
    Effect.gen(function* () {
      const h = yield* handler()
      yield* TestClock.adjust(Duration.seconds(500))
      yield* h.handle("POST", `/v1/clusters/${TOKEN}?ttl=30`, "10.0.0.1:2375")
      yield* TestClock.adjust(Duration.seconds(10))
      // A heartbeat moves the deadline, not the index.
      const index = (yield* h.handle("GET", `/v1/clusters/${TOKEN}`, "")).headers?.["X-Discovery-Index"]
      yield* h.handle("POST", `/v1/clusters/${TOKEN}?ttl=30`, "10.0.0.1:2375")
      yield* TestClock.adjust(Duration.seconds(4))
      const answer = yield* h.handle("GET", `/ui/api/clusters/${TOKEN}`, "")
      assert.strictEqual(answer.headers?.["X-Discovery-Index"], index)
      assert.deepStrictEqual(body(answer), {
        index: Number(index),
        now: 514_000,
        readOnly: false,
        members: [{ address: "10.0.0.1:2375", registeredAt: 510_000, expiresAt: 540_000, ttl: 30_000 }]
      })
    })
  )

  it.scoped("a read-only token reads the same members and is said to be one", () =>
    Effect.gen(function* () {
      const h = yield* handler()
      yield* h.handle("POST", `/v1/clusters/${TOKEN}?ttl=30`, "10.0.0.1:2375")
      const read = (yield* h.handle("POST", `/v1/clusters/${TOKEN}/read-token`, "")).body
      const answer = yield* h.handle("GET", `/ui/api/clusters/${read}`, "")
      const data = body(answer)
      assert.strictEqual(data.readOnly, true)
      assert.deepStrictEqual(
        data.members.map((m: { address: string }) => m.address),
        ["10.0.0.1:2375"]
      )
      assert.notInclude(answer.body, TOKEN)
    })
  )

  it.scoped("static files: content types, caching, CSP that allows only this server", () =>
    Effect.gen(function* () {
      const h = yield* handler(ADMIN)
      const page = yield* h.handle("GET", `/ui/clusters/${TOKEN}`, "")
      assert.strictEqual(page.contentType, "text/html; charset=utf-8")
      assert.strictEqual(page.headers?.["Cache-Control"], "no-cache")
      assert.strictEqual(page.headers?.["Referrer-Policy"], "no-referrer")
      const csp = page.headers?.["Content-Security-Policy"] ?? ""
      assert.include(csp, "default-src 'none'")
      assert.include(csp, "script-src 'self'")
      assert.notInclude(csp, "unsafe-inline")
      assert.notMatch(csp, /https?:/)
      // No inline script or style, nothing from another origin.
      const problem = yield* h.handle("GET", "/ui/clusters/not-a-token", "")
      assert.strictEqual(problem.contentType, "text/html; charset=utf-8")
      for (const html of [page.body, (yield* h.handle("GET", "/ui/", "")).body, problem.body]) {
        assert.notMatch(html, /<script>|<style|\sstyle="|\son[a-z]+="|https?:\/\//)
      }
      for (const asset of [Assets.style, Assets.clusterScript, Assets.overviewScript, Assets.icon]) {
        assert.include(page.body + Assets.overviewPage.body, asset.path)
        const file = yield* h.handle("GET", asset.path, "")
        assert.strictEqual(file.status, 200)
        assert.strictEqual(file.contentType, asset.contentType)
        assert.strictEqual(file.headers?.["Cache-Control"], "public, max-age=31536000, immutable")
        assert.strictEqual(file.headers?.["X-Content-Type-Options"], "nosniff")
      }
      assert.match(Assets.clusterScript.contentType, /^text\/javascript/)
      assert.match(Assets.style.contentType, /^text\/css/)
    })
  )
})

describe("figures from the metrics snapshot", () => {
  it("bounds: limits, what is in use and refusals, by bound", () => {
    const metrics = Metrics.make()
    metrics.bounds([
      ["total_entries", 100_000],
      ["connections", 10_000],
      ["new_clusters_per_minute", 60]
    ])
    for (let i = 0; i < 7; i++) metrics.boundRefused("total_entries")
    metrics.connected(() => 12)
    for (let i = 0; i < 5; i++) metrics.observe("list", 200, 0.001)
    for (let i = 0; i < 7; i++) metrics.observe("register", 507, 0.001)
    metrics.observe("register", 400, 0.001)
    const snapshot = metrics.snapshot(undefined)
    assert.deepStrictEqual(Figures.bounds(snapshot, { total_entries: 4200 }), [
      {
        name: "live entries, all clusters",
        flag: "--max-total-entries",
        limit: 100_000,
        used: 4200,
        refused: 7
      },
      { name: "open connections", flag: "--max-connections", limit: 10_000, used: 12, refused: 0 },
      {
        name: "new clusters per client address per minute",
        flag: "--max-new-clusters-per-minute",
        limit: 60,
        refused: 0
      }
    ])
    const summary = Figures.summarize(snapshot)
    assert.deepStrictEqual([summary.requests, summary.clientErrors, summary.serverErrors], [13, 1, 7])
    assert.deepStrictEqual(
      summary.routes.map((r) => [r.route, r.ok, r.clientErrors, r.serverErrors]),
      [
        ["list", 5, 0, 0],
        ["register", 0, 1, 7]
      ]
    )
  })
})
