/**
 * Read-only tokens: issued by POST /v1/clusters/{token}/read-token, stable
 * (also across a restart over the same store), GET and long-poll work with
 * them, register and both deletes get 403; over HTTP, and never logged in full.
 */
import { assert, describe, it } from "@effect/vitest"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Exit, Fiber, Logger, LogLevel, Scope, TestClock } from "effect"
import * as Memory from "../../src/KvStore/Memory.js"
import * as Sqlite from "../../src/KvStore/Sqlite.js"
import * as Server from "../../src/Server/Server.js"
import { request } from "../support/http.js"

const TOKEN = "0123456789abcdef0123456789abcdef"
const C = `/v1/clusters/${TOKEN}`

const listOf = (h: Server.Handler, token: string) =>
  Effect.map(h.handle("GET", `/v1/clusters/${token}`, ""), (a) => JSON.parse(a.body) as Array<string>)

describe("Read-only tokens", () => {
  it.scoped("issued once, stable across a restart; GET works; writes get 403", () =>
    Effect.gen(function* () {
      const dir = mkdtempSync(join(tmpdir(), "swarm-ro-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
      const stores: Array<Sqlite.SqliteKvStore> = []
      const open = (scope: Scope.Scope) =>
        Effect.gen(function* () {
          const store = yield* Sqlite.make({ filename: join(dir, "s.db") })
          stores.push(store)
          return yield* Server.makeHandler({
            store,
            early: { store: store.early, whenDurable: store.whenDurable }
          })
        }).pipe(Scope.extend(scope))

      const first = yield* Scope.make()
      const h = yield* open(first)
      yield* h.handle("POST", C, "10.0.0.1:2375")
      const issued = yield* h.handle("POST", `${C}/read-token`, "")
      assert.strictEqual(issued.status, 200)
      assert.strictEqual(issued.contentType.split(";")[0], "text/plain")
      const ro = issued.body
      assert.match(ro, /^[0-9a-f]{32}$/)
      assert.notStrictEqual(ro, TOKEN)
      assert.strictEqual((yield* h.handle("POST", `${C}/read-token`, "")).body, ro)
      assert.deepStrictEqual(yield* listOf(h, ro), ["10.0.0.1:2375"])
      // Upper case means the same token, as for cluster tokens.
      assert.deepStrictEqual(yield* listOf(h, ro.toUpperCase()), ["10.0.0.1:2375"])
      yield* Scope.close(first, Exit.void)

      const second = yield* Scope.make()
      const again = yield* open(second)
      assert.deepStrictEqual(yield* listOf(again, ro), ["10.0.0.1:2375"], "resolves after a restart")
      assert.strictEqual((yield* again.handle("POST", `${C}/read-token`, "")).body, ro)

      const R = `/v1/clusters/${ro}`
      for (const [method, url, body, route] of [
        ["POST", R, "10.6.6.6:1", "register"],
        ["DELETE", R, "", "delete_cluster"],
        ["DELETE", `${R}/10.0.0.1:2375`, "", "delete_entry"],
        ["POST", `${R}/read-token`, "", "read_token"]
      ] as const) {
        const refused = yield* again.handle(method, url, body)
        assert.strictEqual(refused.status, 403, `${method} ${url}`)
        assert.strictEqual(refused.route, route)
        assert.include(refused.body, "read-only token")
        assert.notInclude(refused.body, ro)
      }
      assert.deepStrictEqual(yield* listOf(again, ro), ["10.0.0.1:2375"])
      assert.deepStrictEqual(yield* listOf(again, TOKEN), ["10.0.0.1:2375"])
      // The refused registration left nothing under the read-only token's own prefix.
      assert.deepStrictEqual((yield* stores[1]!.list(`${ro}/`)).pairs, [])
      const resolved = yield* again.resolveToken(ro)
      assert.deepStrictEqual(resolved, { cluster: TOKEN, readOnly: true })
      assert.deepStrictEqual(yield* again.resolveToken(TOKEN), { cluster: TOKEN, readOnly: false })
      yield* Scope.close(second, Exit.void)
    })
  )

  it.scoped("a long-poll with the read-only token wakes on the cluster's change", () =>
    Effect.gen(function* () {
      const store = Memory.unsafeMake()
      const h = yield* Server.makeHandler({ store })
      const ro = (yield* h.handle("POST", `${C}/read-token`, "")).body
      const index = (yield* h.handle("GET", `/v1/clusters/${ro}`, "")).headers?.["X-Discovery-Index"]
      const poll = yield* Effect.fork(h.handle("GET", `/v1/clusters/${ro}?index=${index}&wait=30s`, ""))
      yield* TestClock.adjust("1 second")
      yield* h.handle("POST", C, "10.0.0.7:2375")
      const woke = yield* Fiber.join(poll)
      assert.strictEqual(woke.route, "watch")
      assert.deepStrictEqual(JSON.parse(woke.body), ["10.0.0.7:2375"])
      // A registration into the read-only token is refused and not kept.
      assert.strictEqual((yield* h.handle("POST", `/v1/clusters/${ro}`, "10.6.6.6:1")).status, 403)
      assert.deepStrictEqual((yield* store.list(`${ro}/`)).pairs, [])
    })
  )

  it.live("over HTTP: 200 text/plain, 403 on writes, and the token never in full in the log", () => {
    const lines: Array<string> = []
    const logger = Logger.make(({ message }) => {
      lines.push(Array.isArray(message) ? message.join(" ") : String(message))
    })
    return Effect.gen(function* () {
      const store = Memory.unsafeMake()
      const server = yield* Server.listen({ port: 0, store })
      yield* Effect.promise(() => request(server.origin, C, { method: "POST", body: "10.0.0.1:2375" }))
      const issued = yield* Effect.promise(() =>
        request(server.origin, `${C}/read-token`, { method: "POST" })
      )
      assert.strictEqual(issued.status, 200)
      assert.match(String(issued.headers["content-type"]), /^text\/plain/)
      const ro = issued.body
      const listed = yield* Effect.promise(() => request(server.origin, `/v1/clusters/${ro}`))
      assert.deepStrictEqual(JSON.parse(listed.body), ["10.0.0.1:2375"])
      const refused = yield* Effect.promise(() =>
        request(server.origin, `/v1/clusters/${ro}`, { method: "POST", body: "10.0.0.2:2375" })
      )
      assert.strictEqual(refused.status, 403)
      assert.include(refused.body, "read-only token")
      const wrongMethod = yield* Effect.promise(() => request(server.origin, `${C}/read-token`))
      assert.strictEqual(wrongMethod.status, 405)
      assert.isAbove(lines.filter((l) => l.startsWith("request ")).length, 3)
      for (const line of lines) {
        assert.notInclude(line, ro)
        assert.notInclude(line, TOKEN)
      }
    }).pipe(
      Effect.scoped,
      Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
      Logger.withMinimumLogLevel(LogLevel.Debug)
    )
  })
})
