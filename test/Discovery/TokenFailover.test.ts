/**
 * The `token://` client over several instances of a service (`token.url=A,B`):
 * it moves to the next on a refused connection, a timeout or a 5xx, stays
 * there, and the watch carries on from the new instance without repeating a
 * snapshot. Real HTTP fakes on 127.0.0.1; every wait is on Effect's TestClock.
 */
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Either, Fiber, TestClock } from "effect"
import * as Discovery from "../../src/Discovery.js"
import * as Token from "../../src/Discovery/Token.js"
import { failsOver, makeRotation } from "../../src/internal/failover.js"
import { freePort } from "../support/net.js"
import { adjustWhenSleeping, entry, type Fake, fakeServer, TOKEN, watching } from "../support/token-fake.js"

const both = (a: Fake, b: Fake, options: Discovery.DiscoveryOptions = {}) =>
  Discovery.make(`token://${TOKEN}`, {
    heartbeat: "4 seconds",
    ttl: "12 seconds",
    ...options,
    options: { "token.url": `${a.service},${b.service}`, ...options.options }
  })

const posts = (fake: Fake) => fake.requests.filter((r) => r.method === "POST").length

/** Two fakes that share their members, as two `swarm serve` over one etcd do. */
const sharing = (a: Fake, b: Fake, entries: ReadonlyArray<string>) => {
  a.set(entries)
  b.set(entries)
}

describe("failover rotation", () => {
  it("tries the current instance first, then the others once, wrapping around", () => {
    const rotation = makeRotation(3)
    assert.deepStrictEqual(rotation.order(), [0, 1, 2])
    assert.isTrue(rotation.failed(0))
    assert.deepStrictEqual(rotation.order(), [1, 2, 0])
    // A second request that also saw 0 fail does not move the current one again.
    assert.isFalse(rotation.failed(0))
    assert.strictEqual(rotation.current(), 1)
    assert.isTrue(rotation.failed(1))
    assert.isTrue(rotation.failed(2))
    assert.deepStrictEqual(rotation.order(), [0, 1, 2])
    const one = makeRotation(1)
    assert.isFalse(one.failed(0))
    assert.deepStrictEqual(one.order(), [0])
  })

  it("fails over on every 5xx, never on a 4xx (429 included) or a success", () => {
    for (const status of [500, 502, 503, 504, 507]) assert.isTrue(failsOver(status), String(status))
    for (const status of [200, 204, 400, 401, 403, 404, 413, 429])
      assert.isFalse(failsOver(status), String(status))
  })
})

describe("token:// over several instances", () => {
  it.scoped("a refused connection moves register to the next instance, which stays the current one", () =>
    Effect.gen(function* () {
      const a = yield* fakeServer
      const b = yield* fakeServer
      const discovery = yield* both(a, b)
      yield* discovery.register(entry("10.0.0.1:2375"))
      assert.deepStrictEqual([posts(a), posts(b)], [1, 0])
      yield* a.kill
      yield* discovery.register(entry("10.0.0.1:2375"))
      yield* discovery.register(entry("10.0.0.1:2375"))
      assert.deepStrictEqual([posts(a), posts(b)], [1, 2])
      assert.deepStrictEqual([...b.entries], ["10.0.0.1:2375"])
    })
  )

  it.scoped("a 5xx moves on and the instance is not asked first again; a 4xx or 429 does not move", () =>
    Effect.gen(function* () {
      const a = yield* fakeServer
      const b = yield* fakeServer
      const discovery = yield* both(a, b)
      a.override = () => ({ status: 503, body: "store_timeout", headers: { "retry-after": "5" } })
      yield* discovery.register(entry("10.0.0.1:2375"))
      assert.deepStrictEqual([posts(a), posts(b)], [1, 1])
      a.override = undefined
      yield* discovery.register(entry("10.0.0.1:2375"))
      assert.deepStrictEqual([posts(a), posts(b)], [1, 2])
      for (const status of [400, 429]) {
        b.override = () => ({ status, body: "no" })
        const error = yield* Effect.flip(discovery.register(entry("10.0.0.1:2375")))
        assert.strictEqual(error._tag === "BadResponse" && error.status, status)
      }
      // Both refusals came from b alone.
      assert.deepStrictEqual([posts(a), posts(b)], [1, 4])
    })
  )

  it.scoped("a hung instance costs one timeout, half the heartbeat, then the next one answers", () =>
    Effect.gen(function* () {
      const a = yield* fakeServer
      const b = yield* fakeServer
      const discovery = yield* both(a, b)
      a.override = () => "hang"
      const start = yield* TestClock.currentTimeMillis
      const fiber = yield* Effect.fork(discovery.register(entry("10.0.0.1:2375")))
      yield* a.requestCount(1)
      yield* adjustWhenSleeping("2 seconds", (d) => d === 2000)
      yield* Fiber.join(fiber)
      assert.strictEqual((yield* TestClock.currentTimeMillis) - start, 2000)
      assert.deepStrictEqual([posts(a), posts(b)], [1, 1])
    })
  )

  it.scoped("token.timeout sets the bound on each attempt; a bad one is refused, naming it", () =>
    Effect.gen(function* () {
      const a = yield* fakeServer
      const b = yield* fakeServer
      const discovery = yield* both(a, b, { options: { "token.timeout": "700ms" } })
      a.override = () => "hang"
      const fiber = yield* Effect.fork(discovery.register(entry("10.0.0.1:2375")))
      yield* a.requestCount(1)
      yield* adjustWhenSleeping("700 millis", (d) => d === 700)
      yield* Fiber.join(fiber)
      assert.strictEqual(posts(b), 1)
      for (const value of ["0s", "-1s", "soon"]) {
        const error = yield* Effect.flip(both(a, b, { options: { "token.timeout": value } }))
        assert.strictEqual(error._tag, "InvalidOption")
        assert.include(error.message, "token.timeout")
        assert.include(error.message, value)
      }
    })
  )

  it.scoped("when every instance fails, the error names the last and what the others said", () =>
    Effect.gen(function* () {
      const a = yield* fakeServer
      const dead = yield* Effect.promise(freePort)
      const discovery = yield* Discovery.make(`token://${TOKEN}`, {
        options: { "token.url": `http://127.0.0.1:${dead}/v1,${a.service}` }
      })
      a.override = () => "hang"
      const fiber = yield* Effect.fork(Effect.flip(discovery.register(entry("10.0.0.1:2375"))))
      yield* a.requestCount(1)
      yield* adjustWhenSleeping("10 seconds", (d) => d === 10_000)
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag === "Unavailable" && error.reason, "Timeout")
      assert.include(error.message, a.service)
      assert.include(error.message, `also tried: http://127.0.0.1:${dead}/v1`)
      assert.include(error.message, "ECONNREFUSED")
      assert.notInclude(error.message, TOKEN)
    })
  )

  it.scoped("SWARM_TOKEN_URL may list instances too, for token://<token>", () =>
    Effect.gen(function* () {
      const a = yield* fakeServer
      const b = yield* fakeServer
      yield* a.kill
      const discovery = yield* Discovery.make(`token://${TOKEN}`).pipe(
        Effect.withConfigProvider(
          ConfigProvider.fromMap(new Map([["SWARM_TOKEN_URL", `${a.service}, ${b.service}`]]))
        )
      )
      yield* discovery.register(entry("10.0.0.1:2375"))
      assert.strictEqual(posts(b), 1)
    })
  )

  it.scoped("createCluster with several service URLs fails over too", () =>
    Effect.gen(function* () {
      const a = yield* fakeServer
      const b = yield* fakeServer
      a.override = () => ({ status: 502, body: "bad gateway" })
      assert.strictEqual(yield* Token.createCluster(`${a.service},${b.service}`), "f".repeat(32))
      const error = yield* Effect.flip(Token.createCluster(`${a.service},,${b.service}`))
      assert.strictEqual(error._tag, "InvalidUrl")
      assert.include(error.message, "element 2")
    })
  )
})

describe("token:// watch over several instances", () => {
  it.scoped("the held long-poll's instance dies: the watch lists from the next at once, no repeat", () =>
    Effect.gen(function* () {
      const a = yield* fakeServer
      const b = yield* fakeServer
      a.index = 10
      b.index = 10
      sharing(a, b, ["10.0.0.1:2375"])
      const discovery = yield* both(a, b)
      const next = yield* watching(discovery)
      assert.deepStrictEqual(yield* next, Either.right(["10.0.0.1:2375"]))
      yield* a.requestCount(2)
      assert.strictEqual(a.requests[1]?.url, `/v1/clusters/${TOKEN}?index=11&wait=4s`)
      // A change while a dies: only b can tell.
      b.set(["10.0.0.1:2375", "10.0.0.2:2375"])
      yield* a.kill
      assert.deepStrictEqual(yield* next, Either.right(["10.0.0.1:2375", "10.0.0.2:2375"]))
      // A plain GET on b first (a's index means nothing there), then long-polls on b with b's index.
      yield* b.requestCount(2)
      assert.deepStrictEqual(
        b.requests.map((r) => r.url),
        [`/v1/clusters/${TOKEN}`, `/v1/clusters/${TOKEN}?index=12&wait=4s`]
      )
      b.set(["10.0.0.2:2375"])
      assert.deepStrictEqual(yield* next, Either.right(["10.0.0.2:2375"]))
    })
  )

  it.scoped("a long-poll on an instance that stops answering times out after wait + timeout, then b", () =>
    Effect.gen(function* () {
      const a = yield* fakeServer
      const b = yield* fakeServer
      a.index = 3
      b.index = 3
      sharing(a, b, ["10.0.0.1:2375"])
      const discovery = yield* both(a, b)
      const next = yield* watching(discovery)
      assert.deepStrictEqual(yield* next, Either.right(["10.0.0.1:2375"]))
      yield* a.requestCount(2)
      // From now on a accepts requests and never answers (a paused process, a partition).
      a.override = () => "hang"
      a.set(["10.0.0.1:2375"])
      yield* a.requestCount(3)
      b.set(["10.0.0.1:2375", "10.0.0.3:2375"])
      // wait (4s, the heartbeat) + the request timeout (2s, half the heartbeat).
      yield* adjustWhenSleeping("6 seconds", (d) => d === 6000)
      assert.deepStrictEqual(yield* next, Either.right(["10.0.0.1:2375", "10.0.0.3:2375"]))
      assert.strictEqual(b.requests[0]?.url, `/v1/clusters/${TOKEN}`)
    })
  )

  it.scoped("after register moved to b, the next long-poll lists from b instead of polling a", () =>
    Effect.gen(function* () {
      const a = yield* fakeServer
      const b = yield* fakeServer
      a.index = 1
      b.index = 1
      sharing(a, b, [])
      const discovery = yield* both(a, b)
      const next = yield* watching(discovery)
      assert.deepStrictEqual(yield* next, Either.right([]))
      yield* a.requestCount(2)
      a.override = (request) => (request.method === "POST" ? { status: 503, body: "cut off" } : undefined)
      yield* discovery.register(entry("10.0.0.5:2375"))
      a.override = undefined
      // b holds the registration; a's long-poll answers with its own (unchanged) list when woken.
      a.set([])
      assert.deepStrictEqual(yield* next, Either.right(["10.0.0.5:2375"]))
      assert.deepStrictEqual(b.requests.at(-1)?.url, `/v1/clusters/${TOKEN}`)
    })
  )
})
