/**
 * `token://` access control from the client's side: read-only tokens (against
 * a small double of the server's `read-token` extension), mutual TLS (a real
 * HTTPS server that requires a client certificate), and an `HttpClient` taken
 * from the context.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { readFileSync } from "node:fs"
import * as Http from "node:http"
import * as Https from "node:https"
import type { AddressInfo } from "node:net"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect, Either, Exit, Option, Ref, Stream } from "effect"
import * as Discovery from "../../src/Discovery.js"
import * as Token from "../../src/Discovery/Token.js"
import * as Entries from "../../src/Entries.js"
import * as Entry from "../../src/Entry.js"
import * as Join from "../../src/Join.js"
import { gates } from "../support/gate.js"
import { makeTestPki, type TestPki } from "../support/tls.js"

const TOKEN = "0123456789abcdef0123456789abcdef"
const READ = "fedcba9876543210fedcba9876543210"

/** The double: one cluster, its read-only token, 403 on writes with it (the server's wording). */
const handler =
  (entries: Set<string>): Http.RequestListener =>
  (req, res) => {
    const chunks: Array<Buffer> = []
    req.on("data", (c: Buffer) => chunks.push(c))
    req.on("end", () => {
      const parts = new URL(req.url ?? "", "http://x").pathname.split("/").filter((p) => p !== "")
      const [, , token, rest] = parts
      if (token !== TOKEN && token !== READ) return void res.writeHead(404).end("no such cluster")
      if (req.method === "POST" && rest === "read-token") {
        return void res.writeHead(200, { "content-type": "text/plain" }).end(READ)
      }
      if (req.method === "GET") {
        return void res
          .writeHead(200, { "content-type": "application/json" })
          .end(JSON.stringify([...entries]))
      }
      if (token === READ) {
        return void res
          .writeHead(403)
          .end("this is a read-only token: it can list and watch, not register or delete")
      }
      if (req.method === "POST") entries.add(Buffer.concat(chunks).toString())
      res.end("OK")
    })
  }

const listen = (server: Http.Server, scheme: "http" | "https") =>
  Effect.acquireRelease(
    Effect.async<string>((resume) => {
      server.listen(0, "127.0.0.1", () =>
        resume(Effect.succeed(`${scheme}://127.0.0.1:${(server.address() as AddressInfo).port}/v1`))
      )
    }),
    () =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  )

const members = (discovery: Discovery.DiscoveryShape) =>
  Effect.map(Stream.runHead(discovery.watch), (head) => Entries.format(Option.getOrThrow(head)))

describe("read-only tokens", () => {
  it.scoped(
    "createReadToken asks the server; list works with it, register and deregister are Forbidden",
    () =>
      Effect.gen(function* () {
        const service = yield* listen(Http.createServer(handler(new Set(["10.0.0.1:2375"]))), "http")
        const read = yield* Token.createReadToken({ service, services: [service], token: TOKEN })
        assert.strictEqual(read, READ)
        // The token:// URL form resolves to the same target.
        const fromUrl = Either.getOrThrow(
          Token.resolveTarget(`token://${service}/${TOKEN}`, "http://unused/v1")
        )
        assert.deepStrictEqual(fromUrl, { service, services: [service], token: TOKEN })
        assert.strictEqual(yield* Token.createReadToken(fromUrl), READ)

        const reader = yield* Discovery.make(`token://${service}/${read}`)
        assert.deepStrictEqual(yield* members(reader), ["10.0.0.1:2375"])
        const refused = yield* Effect.flip(reader.register(Entry.make("10.0.0.2", 2375)))
        assert.strictEqual(refused._tag, "Forbidden")
        assert.include(refused.message, "read-only token")
        assert.include(refused.message, "status 403")
        assert.notInclude(refused.message, READ)
        assert.strictEqual(
          (yield* Effect.flip(reader.deregister(Entry.make("10.0.0.1", 2375))))._tag,
          "Forbidden"
        )
      })
  )

  it.scoped("join with a read-only token fails at once with Forbidden, after one try", () =>
    Effect.gen(function* () {
      const entries = new Set<string>()
      const service = yield* listen(Http.createServer(handler(entries)), "http")
      const error = yield* Effect.flip(
        Join.join(Entry.make("10.0.0.9", 2375)).pipe(
          Effect.provide(
            Discovery.layer(`token://${service}/${READ}`, { heartbeat: "1 second", ttl: "3 seconds" })
          )
        )
      )
      assert.strictEqual(error._tag, "Forbidden")
      assert.strictEqual(entries.size, 0)
    })
  )

  it.scoped("a server without the extension gives a clear error", () =>
    Effect.gen(function* () {
      const old = Http.createServer((_, res) => void res.writeHead(404).end("404 page not found"))
      const service = yield* listen(old, "http")
      const error = yield* Effect.flip(Token.createReadToken({ service, services: [service], token: TOKEN }))
      assert.include(error.message, "has no read-only tokens")
    })
  )

  it("resolveTarget refuses what is not a token", () => {
    const bad = Token.resolveTarget("not a token", "http://127.0.0.1:8375/v1")
    assert.isTrue(Either.isLeft(bad))
    assert.include(Either.getOrThrow(Either.flip(bad)).message, "expected a token or token://")
  })
})

// openssl makes the throwaway CA (gated: a loud skip here, a failure under CI=true).
const canTls = gates.openssl()

describe.runIf(canTls)("mutual TLS", () => {
  let pki: TestPki | undefined
  const getPki = () => (pki ??= makeTestPki())
  afterAll(() => pki?.cleanup())

  const mtlsServer = () => {
    const { ca, cert, key } = getPki()
    return Https.createServer(
      {
        cert: readFileSync(cert),
        key: readFileSync(key),
        ca: readFileSync(ca),
        requestCert: true,
        rejectUnauthorized: true
      },
      handler(new Set(["10.0.0.1:2375"]))
    )
  }

  it.scoped(
    "with token.cert and token.key the client lists; without them it says a client certificate is required",
    () =>
      Effect.gen(function* () {
        const service = yield* listen(mtlsServer(), "https")
        const { ca, clientCert, clientKey } = getPki()
        const url = `token://${service}/${TOKEN}`
        const withCert = yield* Discovery.make(url, {
          options: { "token.cacert": ca, "token.cert": clientCert, "token.key": clientKey }
        })
        assert.deepStrictEqual(yield* members(withCert), ["10.0.0.1:2375"])
        yield* withCert.register(Entry.make("10.0.0.2", 2375))
        assert.strictEqual(
          yield* Token.createReadToken(
            { service, services: [service], token: TOKEN },
            { cacert: ca, cert: clientCert, key: clientKey }
          ),
          READ
        )

        const without = yield* Discovery.make(url, { options: { "token.cacert": ca } })
        const error = yield* Effect.flip(members(without))
        assert.strictEqual(error._tag, "Unavailable")
        assert.include(error.message, "requires a client certificate")
        assert.include(error.message, "token.cert=")
        assert.notInclude(error.message, "token.cacert=")
        assert.notInclude(error.message, TOKEN)
      })
  )

  it.scoped("token.cert without token.key is an invalid URL that says they go together", () =>
    Effect.gen(function* () {
      const { clientCert } = getPki()
      const error = yield* Effect.flip(
        Discovery.make(`token://https://127.0.0.1:1/v1/${TOKEN}`, { options: { "token.cert": clientCert } })
      )
      assert.strictEqual(error._tag, "InvalidUrl")
      assert.include(error.message, "token.cert and token.key go together")
    })
  )

  it.scoped("an unreadable token.key names the option and the path", () =>
    Effect.gen(function* () {
      const { clientCert } = getPki()
      const error = yield* Effect.flip(
        Discovery.make(`token://https://127.0.0.1:1/v1/${TOKEN}`, {
          options: { "token.cert": clientCert, "token.key": "/nonexistent/key.pem" }
        })
      )
      assert.include(error.message, "cannot read token.key")
      assert.include(error.message, "/nonexistent/key.pem")
    })
  )
})

describe("the HttpClient in the context", () => {
  it.scoped("token:// sends through it when no TLS file is given", () =>
    Effect.gen(function* () {
      const seen = yield* Ref.make<ReadonlyArray<string>>([])
      const client = HttpClient.make((request) =>
        Effect.as(
          Ref.update(seen, (all) => [...all, `${request.method} ${request.url}`]),
          HttpClientResponse.fromWeb(
            request,
            new Response(JSON.stringify(["10.0.0.5:1"]), { headers: { "x-discovery-index": "3" } })
          )
        )
      )
      const discovery = yield* Discovery.make(`token://http://double.invalid/v1/${TOKEN}`).pipe(
        Effect.provideService(HttpClient.HttpClient, client)
      )
      assert.deepStrictEqual(yield* members(discovery), ["10.0.0.5:1"])
      assert.deepStrictEqual(yield* Ref.get(seen), [`GET http://double.invalid/v1/clusters/${TOKEN}`])
      const exit = yield* Effect.exit(discovery.register(Entry.make("", 0)))
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual((yield* Ref.get(seen)).length, 1, "an invalid entry sends nothing")
    })
  )
})
