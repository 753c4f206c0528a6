/**
 * `Connection.call` bounds: each request by the store's timeout, and the requests of one operation (`within`)
 * together by the operation's bound. Against a silent endpoint (accepts, never answers), in real time: the
 * bound is a real timer, as in production.
 */
import { assert, describe, it } from "@effect/vitest"
import { createServer, type Server } from "node:net"
import { Duration, Effect } from "effect"
import * as Connection from "../../../src/internal/etcd/connection.js"

const silentEndpoint = Effect.acquireRelease(
  Effect.async<{ server: Server; port: number }>((resume) => {
    const server: Server = createServer(() => {})
    server.listen(0, "127.0.0.1", () =>
      resume(Effect.succeed({ server, port: (server.address() as { port: number }).port }))
    )
  }),
  ({ server }) => Effect.sync(() => server.close())
).pipe(Effect.map(({ port }) => `127.0.0.1:${port}`))

describe("etcd connection bounds", () => {
  it.scopedLive("several calls within one bound fail together when it passes, not a timeout each", () =>
    Effect.gen(function* () {
      const endpoint = yield* silentEndpoint
      const perCall = Duration.seconds(2)
      const conn = yield* Connection.make({ endpoints: [endpoint], timeout: perCall })
      const get = (key: string) =>
        conn.call(`get ${key}`, () => conn.client.kv.range({ key: conn.fullKey(key) }))
      const started = Date.now()
      const error = yield* Effect.flip(Connection.within(400)(Effect.zipRight(get("a"), get("b"))))
      const took = Date.now() - started
      assert.strictEqual(error.reason, "Timeout", error.detail)
      assert.include(error.detail, "get a", "the first call used up the bound")
      assert.isAtLeast(took, 390)
      assert.isBelow(took, Duration.toMillis(perCall), "the operation's bound, not one call's")
    })
  )

  it.scopedLive("a bound inside another never extends it; a shorter one inside it holds", () =>
    Effect.gen(function* () {
      const endpoint = yield* silentEndpoint
      const conn = yield* Connection.make({ endpoints: [endpoint], timeout: Duration.seconds(3) })
      const get = conn.call("get a", () => conn.client.kv.range({ key: conn.fullKey("a") }))
      const timed = (effect: typeof get) =>
        Effect.map(Effect.timed(Effect.flip(effect)), ([d]) => Duration.toMillis(d))
      const outerWins = yield* timed(Connection.within(300)(Connection.within(2_000)(get)))
      assert.isBelow(outerWins, 1_000)
      const innerWins = yield* timed(Connection.within(2_000)(Connection.within(300)(get)))
      assert.isBelow(innerWins, 1_000)
      assert.isAtLeast(innerWins, 290)
    })
  )

  it.scopedLive("a call outside any operation gets the store's timeout", () =>
    Effect.gen(function* () {
      const endpoint = yield* silentEndpoint
      const timeout = Duration.millis(600)
      const conn = yield* Connection.make({ endpoints: [endpoint], timeout })
      const started = Date.now()
      const error = yield* Effect.flip(
        conn.call("get a", () => conn.client.kv.range({ key: conn.fullKey("a") }))
      )
      const took = Date.now() - started
      assert.strictEqual(error.reason, "Timeout", error.detail)
      assert.include(error.detail, `within ${Duration.format(timeout)}`)
      assert.isAtLeast(took, Duration.toMillis(timeout) - 10)
    })
  )
})

describe("work of the store's own, started inside an operation", () => {
  it.scopedLive("unbounded: the operation's bound does not reach it; the store's timeout still does", () =>
    Effect.gen(function* () {
      const endpoint = yield* silentEndpoint
      const conn = yield* Connection.make({ endpoints: [endpoint], timeout: Duration.millis(900) })
      const get = conn.call("get a", () => conn.client.kv.range({ key: conn.fullKey("a") }))
      const took = (effect: typeof get) =>
        Effect.map(Effect.timed(Effect.flip(effect)), ([d]) => Duration.toMillis(d))
      const bounded = yield* took(Connection.within(200)(get))
      const freed = yield* took(Connection.within(200)(Connection.unbounded(get)))
      assert.isBelow(bounded, 600, "the operation's 200 ms")
      assert.isAtLeast(freed, 880, "the store's 900 ms, not the operation's 200")
    })
  )
})
