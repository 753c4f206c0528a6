/**
 * The `token://` backend against a small in-test fake of the Hub v1 API
 * (real HTTP on 127.0.0.1, Effect's TestClock for heartbeats and timeouts).
 */
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Either, Exit, Fiber, Stream } from "effect"
import * as Discovery from "../../src/Discovery.js"
import * as Token from "../../src/Discovery/Token.js"
import * as Entries from "../../src/Entries.js"
import { MAX_BODY } from "../../src/internal/tokenClient.js"
import { freePort } from "../support/net.js"
import { gates } from "../support/gate.js"
import { makeTestPki } from "../support/tls.js"
import {
  adjustWhenSleeping,
  connect,
  entry,
  fakeServer,
  fakeServerWith,
  TOKEN,
  watching
} from "../support/token-fake.js"

describe("token:// backend", () => {
  it.scoped("register POSTs host:port with the TTL in whole seconds, and checks the status", () =>
    Effect.gen(function* () {
      const fake = yield* fakeServer
      const discovery = yield* connect(fake, { heartbeat: "1 second", ttl: "2500 millis" })
      yield* discovery.register(entry("10.0.0.1:2375"))
      assert.deepStrictEqual(fake.requests.at(-1), {
        method: "POST",
        url: `/v1/clusters/${TOKEN}?ttl=3`,
        body: "10.0.0.1:2375"
      })
      fake.override = () => ({ status: 507, body: `cluster ${TOKEN} is full` })
      const error = yield* Effect.flip(discovery.register(entry("10.0.0.2:2375")))
      assert.strictEqual(error._tag, "BadResponse")
      assert.strictEqual(error._tag === "BadResponse" && error.status, 507)
      assert.include(error.message, "is full")
      assert.include(error.message, "10.0.0.2:2375")
      assert.notInclude(error.message, TOKEN)
    })
  )

  it.scoped("a refused connection is Unavailable, and the message hides the token", () =>
    Effect.gen(function* () {
      const port = yield* Effect.promise(freePort)
      const discovery = yield* Discovery.make(`token://http://127.0.0.1:${port}/v1/${TOKEN}`)
      const error = yield* Effect.flip(discovery.register(entry("10.0.0.1:2375")))
      assert.strictEqual(error._tag, "Unavailable")
      assert.include(error.message, `127.0.0.1:${port}`)
      assert.include(error.message, "ECONNREFUSED")
      assert.notInclude(error.message, TOKEN)
      const watchError = yield* Effect.flip(Stream.runHead(discovery.watch))
      assert.strictEqual(watchError._tag, "Unavailable")
    })
  )

  it.scoped("a request with no answer times out as Unavailable", () =>
    Effect.gen(function* () {
      const fake = yield* fakeServer
      fake.override = () => "hang"
      const discovery = yield* connect(fake)
      const fiber = yield* Effect.fork(Effect.flip(discovery.register(entry("10.0.0.1:2375"))))
      yield* fake.requestCount(1)
      // One instance: nothing to fail over to, so the bound is the fixed request timeout, not half the heartbeat.
      const timeout = Token.requestTimeout(Duration.seconds(5), 1)
      assert.deepStrictEqual(timeout, Token.REQUEST_TIMEOUT)
      assert.isAbove(Duration.toMillis(timeout), 5000)
      yield* adjustWhenSleeping(timeout, (d) => d === Duration.toMillis(timeout))
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag, "Unavailable")
      assert.strictEqual(error._tag === "Unavailable" && error.reason, "Timeout")
    })
  )

  it.scoped("deregister DELETEs the url-encoded entry; 404 (an older server) is fine, 500 is not", () =>
    Effect.gen(function* () {
      const fake = yield* fakeServer
      const discovery = yield* connect(fake)
      yield* discovery.register(entry("[2001:db8::1]:2375"))
      yield* discovery.deregister(entry("[2001:db8::1]:2375"))
      assert.deepStrictEqual(fake.requests.at(-1)?.method, "DELETE")
      assert.deepStrictEqual(
        fake.requests.at(-1)?.url,
        `/v1/clusters/${TOKEN}/%5B2001%3Adb8%3A%3A1%5D%3A2375`
      )
      assert.deepStrictEqual([...fake.entries], [])
      fake.override = () => ({ status: 404, body: "404 page not found" })
      yield* discovery.deregister(entry("10.0.0.1:2375"))
      fake.override = () => ({ status: 500, body: "boom" })
      const error = yield* Effect.flip(discovery.deregister(entry("10.0.0.1:2375")))
      assert.strictEqual(error._tag, "BadResponse")
    })
  )

  it.scoped(
    "watch: a body that is not a JSON array of strings fails the first fetch with a decode error",
    () =>
      Effect.gen(function* () {
        const fake = yield* fakeServer
        const discovery = yield* connect(fake)
        for (const body of ["<html>", '{"a":1}', "[1,2]"]) {
          fake.override = () => ({ status: 200, body })
          const error = yield* Effect.flip(Stream.runHead(discovery.watch))
          assert.strictEqual(error._tag, "BadResponse")
          assert.strictEqual(error._tag === "BadResponse" && error.reason, "Decode")
        }
        // Go servers send null for an empty list; bad entries are skipped.
        fake.override = () => ({ status: 200, body: "null" })
        assert.deepStrictEqual(
          Entries.format(yield* Stream.runHead(discovery.watch).pipe(Effect.flatten)),
          []
        )
        fake.override = () => ({ status: 200, body: '["10.0.0.1:2375","nonsense","[::1]:80"]' })
        assert.deepStrictEqual(Entries.format(yield* Stream.runHead(discovery.watch).pipe(Effect.flatten)), [
          "10.0.0.1:2375",
          "[::1]:80"
        ])
      })
  )

  it.scoped("watch: a first fetch answered with an error status fails the stream", () =>
    Effect.gen(function* () {
      const fake = yield* fakeServer
      fake.override = () => ({ status: 503, body: "maintenance" })
      const discovery = yield* connect(fake)
      const error = yield* Effect.flip(Stream.runHead(discovery.watch))
      assert.strictEqual(error._tag === "BadResponse" && error.status, 503)
    })
  )

  it.scoped("watch without X-Discovery-Index polls every heartbeat and emits only changes", () =>
    Effect.gen(function* () {
      const fake = yield* fakeServer
      fake.set(["10.0.0.1:2375"])
      const discovery = yield* connect(fake, { heartbeat: "3 seconds" })
      const next = yield* watching(discovery)
      assert.deepStrictEqual(yield* next, Either.right(["10.0.0.1:2375"]))
      // One heartbeat with no change: one more GET, nothing emitted.
      yield* adjustWhenSleeping("3 seconds", (d) => d === 3000)
      yield* fake.requestCount(2)
      fake.set(["10.0.0.1:2375", "10.0.0.2:2375"])
      yield* adjustWhenSleeping("3 seconds", (d) => d === 3000)
      assert.deepStrictEqual(yield* next, Either.right(["10.0.0.1:2375", "10.0.0.2:2375"]))
      assert.deepStrictEqual(
        fake.requests.map((r) => `${r.method} ${r.url}`),
        [1, 2, 3].map(() => `GET /v1/clusters/${TOKEN}`)
      )
    })
  )

  it.scoped("watch long-polls with ?index=N&wait= when the server sends X-Discovery-Index", () =>
    Effect.gen(function* () {
      const fake = yield* fakeServer
      fake.index = 7
      const discovery = yield* connect(fake, { heartbeat: "10 seconds" })
      const next = yield* watching(discovery)
      assert.deepStrictEqual(yield* next, Either.right([]))
      yield* fake.requestCount(2)
      assert.strictEqual(fake.requests[1]?.url, `/v1/clusters/${TOKEN}?index=7&wait=10s`)
      // A change wakes the held request: no clock movement needed.
      fake.set(["10.0.0.9:2375"])
      assert.deepStrictEqual(yield* next, Either.right(["10.0.0.9:2375"]))
      yield* fake.requestCount(3)
      assert.strictEqual(fake.requests[2]?.url, `/v1/clusters/${TOKEN}?index=8&wait=10s`)
    })
  )

  it.scoped("watch caps the long-poll wait at 30s", () =>
    Effect.gen(function* () {
      const fake = yield* fakeServer
      fake.index = 1
      const discovery = yield* connect(fake, { heartbeat: "60 seconds", ttl: "180 seconds" })
      const next = yield* watching(discovery)
      yield* next
      yield* fake.requestCount(2)
      assert.strictEqual(fake.requests[1]?.url, `/v1/clusters/${TOKEN}?index=1&wait=30s`)
    })
  )

  it.scoped(
    "watch: later failures are retried and the stream carries on, resynchronising without index",
    () =>
      Effect.gen(function* () {
        const fake = yield* fakeServer
        fake.index = 3
        fake.set(["10.0.0.1:2375"])
        const discovery = yield* connect(fake, { heartbeat: "5 seconds" })
        const next = yield* watching(discovery)
        assert.deepStrictEqual(yield* next, Either.right(["10.0.0.1:2375"]))
        yield* fake.requestCount(2)
        // The held long-poll is answered with an error, as a restarting proxy would.
        fake.override = () => ({ status: 502, body: "bad gateway" })
        fake.set(["10.0.0.1:2375"])
        yield* fake.requestCount(3)
        fake.override = undefined
        fake.set(["10.0.0.1:2375", "10.0.0.2:2375"])
        yield* adjustWhenSleeping("1 second", (d) => d > 0 && d <= 1000)
        assert.deepStrictEqual(yield* next, Either.right(["10.0.0.1:2375", "10.0.0.2:2375"]))
        assert.strictEqual(fake.requests[3]?.url, `/v1/clusters/${TOKEN}`)
      })
  )

  it.scoped("watch: a server that ignores wait does not make the client spin", () =>
    Effect.gen(function* () {
      const fake = yield* fakeServer
      // Always answers at once with the same index.
      fake.override = (request) =>
        request.method === "GET"
          ? { status: 200, body: "[]", headers: { "x-discovery-index": "5" } }
          : undefined
      const discovery = yield* connect(fake, { heartbeat: "5 seconds" })
      const next = yield* watching(discovery)
      yield* next
      yield* fake.requestCount(2)
      // Over one second of clock time the client asks again and again, each time after a pause on the clock
      // (a sleep shorter than a request's timeout), never in a loop: at least once, at most ten times.
      const timeoutMs = Duration.toMillis(Token.requestTimeout(Duration.seconds(5), 1))
      const before = fake.requests.length
      for (let elapsed = 0; elapsed < 1000; elapsed += 50)
        yield* adjustWhenSleeping("50 millis", (d) => d > 0 && d < timeoutMs)
      const made = fake.requests.length - before
      assert.isAtLeast(made, 1)
      assert.isAtMost(made, 10)
    })
  )

  it.scoped("token:// alone uses SWARM_TOKEN_URL", () =>
    Effect.gen(function* () {
      const fake = yield* fakeServer
      const discovery = yield* Discovery.make(`token://${TOKEN}`).pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["SWARM_TOKEN_URL", fake.service]])))
      )
      yield* discovery.register(entry("10.0.0.1:2375"))
      assert.strictEqual(fake.requests.at(-1)?.url, `/v1/clusters/${TOKEN}?ttl=180`)
    })
  )

  it.scoped("the discovery-opt token.url wins over the URL's service", () =>
    Effect.gen(function* () {
      const fake = yield* fakeServer
      const discovery = yield* Discovery.make(`token://elsewhere.invalid/v1/${TOKEN}`, {
        options: { "token.url": fake.service }
      })
      yield* discovery.register(entry("10.0.0.1:2375"))
      assert.strictEqual(fake.requests.length, 1)
    })
  )

  it.scoped("an unreadable token.cacert is reported, naming the file", () =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(
        Discovery.make(`token://https://127.0.0.1:1/v1/${TOKEN}`, {
          options: { "token.cacert": "/nonexistent/ca.pem" }
        })
      )
      assert.isTrue(Exit.isFailure(exit))
      const error = yield* Effect.flip(exit)
      assert.strictEqual(error._tag, "InvalidUrl")
      assert.include(error.message, "/nonexistent/ca.pem")
      assert.notInclude(error.message, TOKEN)
    })
  )

  it.scoped("createCluster returns the trimmed token, and refuses an answer that is not one", () =>
    Effect.gen(function* () {
      const fake = yield* fakeServer
      assert.strictEqual(yield* Token.createCluster(fake.service + "/"), "f".repeat(32))
      assert.deepStrictEqual(fake.requests.at(-1), { method: "POST", url: "/v1/clusters", body: "" })
      fake.override = () => ({ status: 200, body: "<html>hello</html>" })
      const decode = yield* Effect.flip(Token.createCluster(fake.service))
      assert.strictEqual(decode._tag === "BadResponse" && decode.reason, "Decode")
      fake.override = () => ({ status: 429, body: "slow down" })
      const status = yield* Effect.flip(Token.createCluster(fake.service))
      assert.strictEqual(status._tag === "BadResponse" && status.status, 429)
      const invalid = yield* Effect.flip(Token.createCluster("ftp://x"))
      assert.strictEqual(invalid._tag, "InvalidUrl")
    })
  )

  it.scoped("an answer larger than the client's bound is Unavailable, with a length or chunked", () =>
    Effect.gen(function* () {
      const fake = yield* fakeServer
      const big = "f".repeat(MAX_BODY + 1)
      const lengths: Array<Record<string, string>> = [{ "content-length": String(big.length) }, {}]
      for (const headers of lengths) {
        fake.override = () => ({ status: 200, headers, body: big })
        const error = yield* Effect.flip(Token.createCluster(fake.service))
        assert.strictEqual(error._tag, "Unavailable")
        assert.include(error.message, `larger than ${MAX_BODY} bytes`)
      }
      // Just under the bound is read (and then refused as not a token, which is a different error).
      fake.override = () => ({ status: 200, body: big.slice(1) })
      const under = yield* Effect.flip(Token.createCluster(fake.service))
      assert.strictEqual(under._tag === "BadResponse" && under.reason, "Decode")
    })
  )

  // openssl makes a throwaway CA (gated: a loud skip here, a failure under CI=true).
  const canTls = gates.openssl()
  it.scoped.runIf(canTls)(
    "https with a private CA: token.cacert trusts it, and without it the error says how",
    () =>
      Effect.gen(function* () {
        const pki = yield* Effect.acquireRelease(Effect.sync(makeTestPki), (pki) => Effect.sync(pki.cleanup))
        const fake = yield* fakeServerWith({ cert: pki.cert, key: pki.key })
        const url = `token://${fake.service}/${TOKEN}`
        const trusting = yield* Discovery.make(url, { options: { "token.cacert": pki.ca } })
        yield* trusting.register(entry("10.0.0.1:2375"))
        assert.deepStrictEqual(Entries.format(yield* Stream.runHead(trusting.watch).pipe(Effect.flatten)), [
          "10.0.0.1:2375"
        ])
        const untrusting = yield* Discovery.make(url)
        const error = yield* Effect.flip(untrusting.register(entry("10.0.0.2:2375")))
        assert.strictEqual(error._tag, "Unavailable")
        assert.include(error.message, "token.cacert")
        assert.notInclude(error.message, TOKEN)
      })
  )
})
