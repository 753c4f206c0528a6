/**
 * Long-poll fan-out over real sockets: the listener's fiber-free path. Many
 * long-polls on one cluster are all answered by one registration with the
 * same body; those whose clients hung up are dropped and not counted.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Memory from "../../src/KvStore/Memory.js"
import * as Server from "../../src/Server/Server.js"
import { request } from "../support/http.js"

const TOKEN = "0123456789abcdef0123456789abcdef"
const C = `/v1/clusters/${TOKEN}`
const N = 300

const watchers = (origin: string) =>
  Effect.promise(() => request(origin, "/metrics")).pipe(
    Effect.map((r) => Number(/^swarm_discovery_watchers ([0-9]+)$/m.exec(r.body)?.[1]))
  )

/** Polls /metrics until the gauge shows `n` (the requests travel through real sockets). */
const untilWatchers = (origin: string, n: number) =>
  watchers(origin).pipe(
    Effect.filterOrFail((seen) => seen === n),
    Effect.retry({ times: 400 }),
    Effect.orElse(() => Effect.flatMap(watchers(origin), (seen) => Effect.die(`watchers ${seen}, not ${n}`)))
  )

describe("Long-poll fan-out over sockets", () => {
  it.scoped(`${N} long-polls answered by one registration, hung-up ones dropped`, () =>
    Effect.gen(function* () {
      const store = Memory.unsafeMake()
      const server = yield* Server.listen({ port: 0, store })
      const index = (yield* Effect.promise(() => request(server.origin, C))).headers["x-discovery-index"]
      const path = `${C}?index=${index}&wait=60s`
      const aborts = Array.from({ length: 20 }, () => new AbortController())
      const gone = aborts.map((abort) =>
        request(server.origin, path, { signal: abort.signal }).catch(() => "aborted")
      )
      const polls = Array.from({ length: N }, () => request(server.origin, path))
      yield* untilWatchers(server.origin, N + aborts.length)
      for (const abort of aborts) abort.abort()
      yield* untilWatchers(server.origin, N)

      const ack = yield* Effect.promise(() =>
        request(server.origin, C, { method: "POST", body: "10.0.0.1:2375" })
      )
      assert.strictEqual(ack.status, 200)
      const answers = yield* Effect.promise(() => Promise.all(polls))
      for (const a of answers) {
        assert.strictEqual(a.status, 200)
        assert.deepStrictEqual(JSON.parse(a.body), ["10.0.0.1:2375"])
        assert.notStrictEqual(a.headers["x-discovery-index"], index)
      }
      assert.deepStrictEqual(
        yield* Effect.promise(() => Promise.all(gone)),
        aborts.map(() => "aborted")
      )
      assert.strictEqual(yield* watchers(server.origin), 0)
    })
  )
})
