/**
 * The server over real sockets on 127.0.0.1: the routes end to end, body
 * limits, HEAD, client hang-ups, graceful shutdown, TLS and mutual TLS.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { readFileSync } from "node:fs"
import { createServer } from "node:net"
import { Effect, Either, Exit, Scope } from "effect"
import * as Memory from "../../src/KvStore/Memory.js"
import * as Server from "../../src/Server/Server.js"
import { gates } from "../support/gate.js"
import { makeTestPki, type TestPki } from "../support/tls.js"
import { request } from "../support/http.js"

const TOKEN = "0123456789abcdef0123456789abcdef"
const C = `/v1/clusters/${TOKEN}`

const serve = (options: Partial<Server.ListenOptions> = {}) => {
  const store = Memory.unsafeMake()
  return Server.listen({ port: 0, store, stats: store.stats, ...options })
}

const promise = <A>(f: () => Promise<A>) => Effect.promise(f)

describe("Server over a socket", () => {
  it.scoped("listens on a free port and serves the whole API", () =>
    Effect.gen(function* () {
      const server = yield* serve()
      assert.isAbove(server.port, 0)
      assert.strictEqual(server.origin, `http://127.0.0.1:${server.port}`)
      assert.strictEqual(server.url, `${server.origin}/v1`)

      const created = yield* promise(() => request(server.origin, "/v1/clusters", { method: "POST" }))
      assert.strictEqual(created.status, 200)
      assert.match(created.body, /^[0-9a-f]{32}$/)
      assert.match(String(created.headers["content-type"]), /^text\/plain/)
      const cluster = `/v1/clusters/${created.body}`

      // Docker's client sends Content-Type: application/json with an unquoted body.
      const registered = yield* promise(() =>
        request(server.origin, `${cluster}?ttl=60`, {
          method: "POST",
          body: "10.0.0.1:2375",
          headers: { "content-type": "application/json" }
        })
      )
      assert.strictEqual(registered.status, 200)
      assert.strictEqual(registered.body, "OK")

      const listed = yield* promise(() => request(server.origin, cluster))
      assert.strictEqual(listed.status, 200)
      assert.strictEqual(listed.headers["content-type"], "application/json")
      assert.deepStrictEqual(JSON.parse(listed.body), ["10.0.0.1:2375"])
      assert.match(String(listed.headers["x-discovery-index"]), /^[0-9]+$/)

      const head = yield* promise(() => request(server.origin, cluster, { method: "HEAD" }))
      assert.strictEqual(head.status, 200)
      assert.strictEqual(head.body, "")
      assert.strictEqual(head.headers["x-discovery-index"], listed.headers["x-discovery-index"])

      const one = yield* promise(() =>
        request(server.origin, `${cluster}/${encodeURIComponent("10.0.0.1:2375")}`, { method: "DELETE" })
      )
      assert.strictEqual(one.status, 200)
      const all = yield* promise(() => request(server.origin, cluster, { method: "DELETE" }))
      assert.strictEqual(all.status, 200)

      const health = yield* promise(() => request(server.origin, "/healthz"))
      assert.strictEqual(health.status, 200)

      const metrics = yield* promise(() => request(server.origin, "/metrics"))
      assert.strictEqual(metrics.status, 200)
      assert.match(String(metrics.headers["content-type"]), /^text\/plain; version=0\.0\.4/)
      // The listener counts every answered request, by route and status.
      assert.include(metrics.body, 'swarm_discovery_requests_total{route="create",status="200"} 1')
      assert.include(metrics.body, 'swarm_discovery_requests_total{route="register",status="200"} 1')
      assert.include(metrics.body, 'swarm_discovery_requests_total{route="list",status="200"} 2')
      assert.include(metrics.body, 'swarm_discovery_requests_total{route="healthz",status="200"} 1')
      assert.notInclude(metrics.body, created.body)
    })
  )

  it.scoped(
    "a body over the limit gets 413, by Content-Length or while streaming, and the server goes on",
    () =>
      Effect.gen(function* () {
        const server = yield* serve({ maxBody: 64 })
        const declared = yield* promise(() =>
          request(server.origin, C, { method: "POST", body: "x".repeat(1_000_000) }).catch((e: Error) => e)
        )
        // Either the 413 arrives, or the connection is cut while the client is still sending.
        if (!(declared instanceof Error)) {
          assert.strictEqual(declared.status, 413)
          assert.include(declared.body, "64 bytes")
        }
        const chunked = yield* promise(() =>
          request(server.origin, C, { method: "POST", chunks: ["10.0.0.1", ":2375", "x".repeat(100)] })
        )
        assert.strictEqual(chunked.status, 413)
        const small = yield* promise(() =>
          request(server.origin, C, { method: "POST", chunks: ["10.0.0.1", ":2375"] })
        )
        assert.strictEqual(small.status, 200)
        const listed = yield* promise(() => request(server.origin, C))
        assert.deepStrictEqual(JSON.parse(listed.body), ["10.0.0.1:2375"])
      })
  )

  it.scoped("a long-poll whose client hangs up stops waiting", () =>
    Effect.gen(function* () {
      const server = yield* serve()
      const index = (yield* promise(() => request(server.origin, C))).headers["x-discovery-index"]
      const abort = new AbortController()
      const pending = request(server.origin, `${C}?index=${index}&wait=5m`, { signal: abort.signal }).catch(
        () => "aborted"
      )
      const watchers = () =>
        promise(() => request(server.origin, "/metrics")).pipe(
          Effect.map((r) => Number(/swarm_discovery_watchers ([0-9]+)/.exec(r.body)?.[1]))
        )
      yield* watchers().pipe(
        Effect.filterOrFail((n) => n === 1),
        Effect.retry({ times: 100 }),
        Effect.orDie
      )
      abort.abort()
      assert.strictEqual(yield* promise(() => pending), "aborted")
      const after = yield* watchers().pipe(
        Effect.filterOrFail((n) => n === 0),
        Effect.retry({ times: 200 }),
        Effect.either
      )
      assert.isTrue(Either.isRight(after), "the long-poll fiber ended with its connection")
    })
  )

  it.live("closing the scope answers long-polls with the current list, then stops listening", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const server = yield* serve().pipe(Scope.extend(scope))
      yield* promise(() => request(server.origin, C, { method: "POST", body: "10.0.0.1:2375" }))
      const index = (yield* promise(() => request(server.origin, C))).headers["x-discovery-index"]
      const pending = request(server.origin, `${C}?index=${index}&wait=5m`)
      // Make sure the long-poll is waiting before closing.
      for (let i = 0; i < 200; i++) {
        const m = yield* promise(() => request(server.origin, "/metrics"))
        if (m.body.includes("swarm_discovery_watchers 1\n")) break
      }
      const started = Date.now()
      yield* Scope.close(scope, Exit.void)
      const answer = yield* promise(() => pending)
      assert.strictEqual(answer.status, 200)
      assert.deepStrictEqual(JSON.parse(answer.body), ["10.0.0.1:2375"])
      assert.isBelow(Date.now() - started, 5_000, "shutdown did not wait for the long-poll's 5m")
      const refused = yield* promise(() =>
        request(server.origin, "/healthz").then(
          () => "answered",
          (e: NodeJS.ErrnoException) => e.code
        )
      )
      assert.strictEqual(refused, "ECONNREFUSED")
    })
  )

  it.scoped("a busy port is a ListenError that names the address", () =>
    Effect.gen(function* () {
      const blocker = createServer()
      yield* Effect.acquireRelease(
        promise(() => new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve))),
        () => promise(() => new Promise<void>((resolve) => blocker.close(() => resolve())))
      )
      const port = (blocker.address() as { port: number }).port
      const result = yield* Effect.either(serve({ port }))
      assert.isTrue(Either.isLeft(result))
      if (Either.isLeft(result)) {
        assert.strictEqual(result.left._tag, "ListenError")
        assert.include(result.left.message, `127.0.0.1:${port}`)
        assert.include(result.left.message, "already in use")
      }
    })
  )

  it.scoped("IPv6 loopback, with brackets in the URL", () =>
    Effect.gen(function* () {
      const result = yield* Effect.either(serve({ host: "::1" }))
      if (Either.isLeft(result)) {
        // A machine without IPv6 loopback: nothing to test here.
        assert.include(result.left.message, "[::1]")
        return
      }
      const server = result.right
      assert.strictEqual(server.origin, `http://[::1]:${server.port}`)
      const health = yield* promise(() => request(server.origin, "/healthz"))
      assert.strictEqual(health.status, 200)
    })
  )
})

describe.skipIf(!gates.openssl())("Server over TLS", () => {
  // Made in beforeAll: a skipped describe still runs its body to collect the tests.
  let pki: TestPki
  let ca: Buffer
  let tls: { cert: Buffer; key: Buffer }
  let client: { cert: Buffer; key: Buffer }
  beforeAll(() => {
    pki = makeTestPki()
    ca = readFileSync(pki.ca)
    tls = { cert: readFileSync(pki.cert), key: readFileSync(pki.key) }
    client = { cert: readFileSync(pki.clientCert), key: readFileSync(pki.clientKey) }
  })
  afterAll(() => pki?.cleanup())

  it.scoped("serves HTTPS with --tlscert/--tlskey", () =>
    Effect.gen(function* () {
      const server = yield* serve({ tls })
      assert.strictEqual(server.url, `https://127.0.0.1:${server.port}/v1`)
      const created = yield* promise(() =>
        request(server.origin, "/v1/clusters", { method: "POST", tls: { ca } })
      )
      assert.strictEqual(created.status, 200)
      // Without the CA, the client refuses the certificate.
      const untrusted = yield* promise(() =>
        request(server.origin, "/healthz").then(
          () => "trusted",
          (e: NodeJS.ErrnoException) => e.code ?? e.message
        )
      )
      assert.notStrictEqual(untrusted, "trusted")
    })
  )

  it.scoped("mutual TLS: a client certificate from the CA is required", () =>
    Effect.gen(function* () {
      const server = yield* serve({ tls: { ...tls, ca, verify: true } })
      const withCert = yield* promise(() => request(server.origin, "/healthz", { tls: { ca, ...client } }))
      assert.strictEqual(withCert.status, 200)
      const without = yield* promise(() =>
        request(server.origin, "/healthz", { tls: { ca } }).then(
          () => "answered",
          () => "refused"
        )
      )
      assert.strictEqual(without, "refused")
      // A certificate from another CA (the server's own self-signed chain is not the client CA here).
      const wrong = yield* promise(() =>
        request(server.origin, "/healthz", { tls: { ca, cert: tls.cert, key: tls.key } }).then(
          (r) => String(r.status),
          () => "refused"
        )
      )
      // The server certificate is signed by the same CA but lacks clientAuth usage.
      assert.strictEqual(wrong, "refused")
    })
  )
})
