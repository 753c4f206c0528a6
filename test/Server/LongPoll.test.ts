/**
 * Long-poll fan-out on TestClock: waiters on a cluster share one store
 * subscription and one answer object; timeouts share one list(); a waiter
 * that goes away is dropped, and the last one ends the subscription.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Option, Stream, TestClock } from "effect"
import type { KvStoreShape } from "../../src/KvStore.js"
import * as Memory from "../../src/KvStore/Memory.js"
import * as Server from "../../src/Server/Server.js"

const TOKEN = "0123456789abcdef0123456789abcdef"
const C = `/v1/clusters/${TOKEN}`

/** A memory store that counts watches (open right now, and ever) and lists. */
const counted = () => {
  const store = Memory.unsafeMake()
  const counts = { watches: 0, open: 0, lists: 0 }
  const shape: KvStoreShape = {
    ...store,
    // Lists of the cluster itself (not of the read-only token map).
    list: (prefix) =>
      Effect.zipRight(
        Effect.sync(() => {
          if (prefix === `${TOKEN}/`) counts.lists++
        }),
        store.list(prefix)
      ),
    watch: (prefix) =>
      Stream.acquireRelease(
        Effect.sync(() => {
          counts.watches++
          counts.open++
        }),
        () => Effect.sync(() => counts.open--)
      ).pipe(Stream.flatMap(() => store.watch(prefix)))
  }
  return { store: shape, counts }
}

const N = 200

describe("Long-poll fan-out", () => {
  it.scoped("many waiters: one subscription, one answer object, all answered by one change", () =>
    Effect.gen(function* () {
      const { counts, store } = counted()
      const h = yield* Server.makeHandler({ store })
      const first = yield* h.handle("GET", C, "")
      const index = first.headers?.["X-Discovery-Index"]
      const polls = yield* Effect.forkAll(
        Array.from({ length: N }, () => h.handle("GET", `${C}?index=${index}&wait=30s`, ""))
      )
      yield* TestClock.adjust("1 second")
      assert.strictEqual(counts.watches, 1)
      assert.include((yield* h.handle("GET", "/metrics", "")).body, `swarm_discovery_watchers ${N}\n`)
      const listsBefore = counts.lists

      yield* h.handle("POST", C, "10.0.0.1:2375")
      const answers = yield* Fiber.join(polls)
      assert.strictEqual(answers.length, N)
      assert.deepStrictEqual(JSON.parse(answers[0]!.body), ["10.0.0.1:2375"])
      for (const a of answers) assert.strictEqual(a, answers[0], "every waiter gets the same answer object")
      // At most the registration's own admission check (is it a new cluster?): none per waiter.
      assert.isAtMost(counts.lists - listsBefore, 1, "a change answers without a list() per waiter")
      assert.strictEqual(counts.open, 0, "the last answered waiter ends the subscription")
    })
  )

  it.scoped("waiters that time out together share one list()", () =>
    Effect.gen(function* () {
      const { counts, store } = counted()
      const h = yield* Server.makeHandler({ store })
      const index = (yield* h.handle("GET", C, "")).headers?.["X-Discovery-Index"]
      const polls = yield* Effect.forkAll(
        Array.from({ length: N }, () => h.handle("GET", `${C}?index=${index}&wait=5s`, ""))
      )
      yield* TestClock.adjust("4999 millis")
      assert.isTrue(Option.isNone(yield* Fiber.poll(polls)))
      const listsBefore = counts.lists
      yield* TestClock.adjust("1 millis")
      const answers = yield* Fiber.join(polls)
      assert.strictEqual(answers.length, N)
      for (const a of answers) {
        assert.strictEqual(a.status, 200)
        assert.strictEqual(a.headers?.["X-Discovery-Index"], index)
      }
      assert.strictEqual(counts.lists - listsBefore, 1)
      assert.strictEqual(counts.open, 0)
    })
  )

  it.scoped("a waiter that goes away is dropped; the last one ends the subscription", () =>
    Effect.gen(function* () {
      const { counts, store } = counted()
      const h = yield* Server.makeHandler({ store })
      const index = (yield* h.handle("GET", C, "")).headers?.["X-Discovery-Index"]
      const a = yield* Effect.fork(h.handle("GET", `${C}?index=${index}&wait=30s`, ""))
      const b = yield* Effect.fork(h.handle("GET", `${C}?index=${index}&wait=30s`, ""))
      yield* TestClock.adjust("1 second")
      assert.strictEqual(counts.open, 1)
      yield* Fiber.interrupt(a)
      assert.include((yield* h.handle("GET", "/metrics", "")).body, "swarm_discovery_watchers 1\n")
      assert.strictEqual(counts.open, 1)
      yield* Fiber.interrupt(b)
      yield* TestClock.adjust("1 second")
      assert.include((yield* h.handle("GET", "/metrics", "")).body, "swarm_discovery_watchers 0\n")
      assert.strictEqual(counts.open, 0)
      // A later long-poll subscribes again and still wakes on a change.
      const c = yield* Effect.fork(h.handle("GET", `${C}?index=${index}&wait=30s`, ""))
      yield* TestClock.adjust("1 second")
      yield* h.handle("POST", C, "10.0.0.9:2375")
      assert.deepStrictEqual(JSON.parse((yield* Fiber.join(c)).body), ["10.0.0.9:2375"])
      assert.strictEqual(counts.watches, 2)
    })
  )

  it.scoped("an index ahead of the server's view is checked with the store, not answered stale", () =>
    Effect.gen(function* () {
      const { store } = counted()
      const h = yield* Server.makeHandler({ store })
      yield* h.handle("POST", C, "10.0.0.1:2375")
      const index = Number((yield* h.handle("GET", C, "")).headers?.["X-Discovery-Index"])
      // A client from another store's epoch (index far ahead) is answered at once with the current list.
      const ahead = yield* h.handle("GET", `${C}?index=${index + 1000}&wait=30s`, "")
      assert.strictEqual(Number(ahead.headers?.["X-Discovery-Index"]), index)
    })
  )
})
