/**
 * The `token://` backend against a small in-test fake of the Hub v1 API
 * (real HTTP on 127.0.0.1, Effect's TestClock for heartbeats and timeouts).
 */
import { readFileSync } from "node:fs"
import * as Http from "node:http"
import * as Https from "node:https"
import type { AddressInfo } from "node:net"
import { assert, describe, it } from "@effect/vitest"
import {
  Chunk,
  ConfigProvider,
  Duration,
  Effect,
  Either,
  Exit,
  Fiber,
  Queue,
  Stream,
  TestClock,
  TestServices
} from "effect"
import * as Discovery from "../../src/Discovery.js"
import * as Token from "../../src/Discovery/Token.js"
import * as Entries from "../../src/Entries.js"
import * as Entry from "../../src/Entry.js"
import { MAX_BODY } from "../../src/internal/tokenClient.js"
import { freePort } from "../support/net.js"
import { gates } from "../support/gate.js"
import { makeTestPki } from "../support/tls.js"

const TOKEN = "0123456789abcdef0123456789abcdef"

interface Recorded {
  readonly method: string
  readonly url: string
  readonly body: string
}

interface Reply {
  readonly status: number
  readonly body: string
  readonly headers?: Record<string, string>
}

/** A fake discovery service. `override` answers a request instead of the normal routes. */
interface Fake {
  readonly service: string
  readonly requests: Array<Recorded>
  entries: Set<string>
  /** When set, GETs carry `X-Discovery-Index` and honour `?index=` by holding the answer until a change. */
  index: number | undefined
  override: ((request: Recorded) => Reply | "hang" | undefined) | undefined
  /** Replaces the members and wakes long-polls. */
  readonly set: (entries: ReadonlyArray<string>) => void
  /** Resolves once `n` requests have arrived in total. */
  readonly requestCount: (n: number) => Effect.Effect<void>
}

const fakeServerWith = (tls?: { readonly cert: string; readonly key: string }) =>
  Effect.acquireRelease(
    Effect.async<{ fake: Fake; server: Http.Server }>((resume) => {
      const waiting: Array<() => void> = []
      const countWaiters: Array<{ n: number; done: () => void }> = []
      const fake: Fake = {
        service: "",
        requests: [],
        entries: new Set(),
        index: undefined,
        override: undefined,
        set: (entries) => {
          fake.entries = new Set(entries)
          if (fake.index !== undefined) fake.index++
          waiting.splice(0).forEach((wake) => wake())
        },
        requestCount: (n) =>
          Effect.async<void>((done) => {
            if (fake.requests.length >= n) done(Effect.void)
            else countWaiters.push({ n, done: () => done(Effect.void) })
          })
      }
      const list = (res: Http.ServerResponse) => {
        const headers: Record<string, string> = { "content-type": "application/json" }
        if (fake.index !== undefined) headers["x-discovery-index"] = String(fake.index)
        res.writeHead(200, headers).end(JSON.stringify([...fake.entries].sort()))
      }
      const handler: Http.RequestListener = (req, res) => {
        const chunks: Array<Buffer> = []
        req.on("data", (c: Buffer) => chunks.push(c))
        req.on("end", () => {
          const request = {
            method: req.method ?? "",
            url: req.url ?? "",
            body: Buffer.concat(chunks).toString()
          }
          fake.requests.push(request)
          for (const w of countWaiters.filter((w) => fake.requests.length >= w.n)) {
            countWaiters.splice(countWaiters.indexOf(w), 1)
            w.done()
          }
          const custom = fake.override?.(request)
          if (custom === "hang") return
          if (custom !== undefined) {
            res.writeHead(custom.status, custom.headers ?? {}).end(custom.body)
            return
          }
          const url = new URL(request.url, "http://x")
          const parts = url.pathname.split("/").filter((p) => p !== "")
          if (request.method === "POST" && parts.length === 2) return void res.end("f".repeat(32))
          if (request.method === "POST" && parts.length === 3) {
            fake.set([...fake.entries, request.body])
            return void res.end("OK")
          }
          if (request.method === "DELETE" && parts.length === 4) {
            const entries = new Set(fake.entries)
            entries.delete(decodeURIComponent(parts[3]!))
            fake.set([...entries])
            return void res.end("OK")
          }
          if (request.method === "GET" && parts.length === 3) {
            const since = url.searchParams.get("index")
            if (since !== null && fake.index !== undefined && Number(since) >= fake.index) {
              waiting.push(() => list(res))
              return
            }
            return list(res)
          }
          res.writeHead(404).end("not found")
        })
      }
      const server =
        tls === undefined
          ? Http.createServer(handler)
          : Https.createServer({ cert: readFileSync(tls.cert), key: readFileSync(tls.key) }, handler)
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as AddressInfo
        ;(fake as { service: string }).service =
          `${tls === undefined ? "http" : "https"}://127.0.0.1:${port}/v1`
        resume(Effect.succeed({ fake, server }))
      })
    }),
    ({ server }) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map(({ fake }) => fake))

const fakeServer = fakeServerWith()

const entry = (s: string) => Either.getOrThrow(Entry.parse(s))

const connect = (fake: Fake, options: Discovery.DiscoveryOptions = {}) =>
  Discovery.make(`token://${fake.service}/${TOKEN}`, {
    heartbeat: "5 seconds",
    ttl: "15 seconds",
    ...options
  })

/** Forks a watch into a queue of snapshots (or its error). */
const watching = (discovery: Discovery.DiscoveryShape) =>
  Effect.gen(function* () {
    const queue = yield* Queue.unbounded<Either.Either<ReadonlyArray<string>, Discovery.DiscoveryError>>()
    yield* discovery.watch.pipe(
      Stream.runForEach((entries) => Queue.offer(queue, Either.right(Entries.format(entries)))),
      Effect.catchAll((error) => Queue.offer(queue, Either.left(error))),
      Effect.forkScoped
    )
    return TestServices.provideWithLive(Queue.take(queue), Effect.timeout("5 seconds"))
  })

/**
 * Waits (bounded, on real I/O) until a fiber sleeps on the TestClock for a
 * delay that `matches`, then moves the clock by `duration`. Finished requests
 * leave their timeout sleeps behind (10s), so callers match on the delay.
 */
const adjustWhenSleeping = (duration: Duration.DurationInput, matches: (delayMillis: number) => boolean) =>
  TestServices.provideWithLive(
    Effect.zip(TestClock.sleeps(), TestClock.currentTimeMillis).pipe(
      Effect.zipLeft(Effect.yieldNow()),
      Effect.repeat({ until: ([sleeps, now]) => Chunk.some(sleeps, (end) => matches(end - now)) })
    ),
    Effect.timeoutFail({
      duration: "5 seconds",
      onTimeout: () => new Error("no fiber went to sleep as expected")
    })
  ).pipe(Effect.zipRight(TestClock.adjust(duration)))

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
      yield* adjustWhenSleeping(Token.REQUEST_TIMEOUT, (d) => d === Duration.toMillis(Token.REQUEST_TIMEOUT))
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
      // The client now pauses on the clock instead of asking again.
      yield* adjustWhenSleeping("1 millis", (d) => d === 250)
      assert.strictEqual(fake.requests.length, 2)
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
