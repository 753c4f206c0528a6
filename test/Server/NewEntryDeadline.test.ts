/**
 * A new entry's answer comes within the store's timeout, however many store
 * steps its checks take: the write, then the read-only token and the bounds.
 * Runs on TestClock over a memory store made slow like a networked one.
 */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Option, TestClock } from "effect"
import { KvError, type KvStoreShape } from "../../src/KvStore.js"
import * as Memory from "../../src/KvStore/Memory.js"
import * as Server from "../../src/Server/Server.js"

const TOKEN = "0123456789abcdef0123456789abcdef"
const PATH = `/v1/clusters/${TOKEN}`
const TIMEOUT = Duration.seconds(5)
const PUT = Duration.seconds(3)
const LIST = Duration.seconds(4)

/**
 * Every put takes PUT and every list LIST (the read-only token and bound checks list), each within the
 * timeout alone; `lists` counts the lists.
 */
const slowStore = (timeout: Duration.Duration | undefined) => {
  const store = Memory.unsafeMake()
  const lists = { count: 0 }
  const shape: KvStoreShape = {
    ...store,
    put: (key, value, options) => Effect.delay(store.put(key, value, options), PUT),
    list: (prefix) =>
      Effect.delay(
        Effect.suspend(() => (lists.count++, store.list(prefix))),
        LIST
      ),
    ...(timeout === undefined ? {} : { timeout })
  }
  return { shape, lists }
}

/** The answer to one registration, and how long it took on TestClock (in steps of 100 ms). */
const timedRegistration = (h: Server.Handler, address: string) =>
  Effect.gen(function* () {
    const fiber = yield* Effect.fork(h.handle("POST", PATH, address))
    for (let elapsed = 0; ; elapsed += 100) {
      const done = yield* Fiber.poll(fiber)
      if (Option.isSome(done)) return { answer: yield* Fiber.join(fiber), elapsed }
      yield* TestClock.adjust(Duration.millis(100))
    }
  })

describe("a new entry's deadline", () => {
  it.scoped("with a store timeout: 503 + Retry-After once the timeout has passed since the write began", () =>
    Effect.gen(function* () {
      const h = yield* Server.makeHandler({ store: slowStore(TIMEOUT).shape })
      const { answer, elapsed } = yield* timedRegistration(h, "10.0.0.1:2375")
      assert.strictEqual(answer.status, 503)
      assert.strictEqual(answer.headers?.["Retry-After"], "1")
      assert.include(answer.body, "did not answer in time")
      assert.strictEqual(elapsed, Duration.toMillis(TIMEOUT))
    })
  )

  it.scoped("without one (a local store) the checks run to their end: the steps add up", () =>
    Effect.gen(function* () {
      const { shape, lists } = slowStore(undefined)
      const h = yield* Server.makeHandler({ store: shape })
      const { answer, elapsed } = yield* timedRegistration(h, "10.0.0.1:2375")
      assert.strictEqual(answer.status, 200)
      assert.isAtLeast(lists.count, 2, "the token check and a bound check")
      assert.isAbove(elapsed, Duration.toMillis(TIMEOUT))
      assert.strictEqual(elapsed, Duration.toMillis(PUT) + lists.count * Duration.toMillis(LIST))
    })
  )

  it.scoped(
    "a store with a deadline of its own bounds the checks by it, with what is left of the timeout",
    () =>
      Effect.gen(function* () {
        const { shape } = slowStore(TIMEOUT)
        const asked: Array<number> = []
        // A stand-in for etcd's fiber-local deadline: the checks fail once what is left has passed.
        const within =
          (ms: number) =>
          <A, E, R>(effect: Effect.Effect<A, E, R>) => {
            asked.push(ms)
            return Effect.timeoutFail(effect, {
              duration: ms,
              onTimeout: () =>
                new KvError({ store: "test", reason: "Timeout", detail: `the store's ${ms} ms` })
            }) as Effect.Effect<A, E, R>
          }
        const h = yield* Server.makeHandler({ store: { ...shape, within } })
        const { answer, elapsed } = yield* timedRegistration(h, "10.0.0.1:2375")
        assert.deepStrictEqual(asked, [Duration.toMillis(TIMEOUT) - Duration.toMillis(PUT)])
        assert.strictEqual(answer.status, 503)
        assert.strictEqual(elapsed, Duration.toMillis(TIMEOUT))
      })
  )

  it.scoped("a refresh is one step, untouched by the budget", () =>
    Effect.gen(function* () {
      const h = yield* Server.makeHandler({ store: slowStore(Duration.minutes(1)).shape })
      assert.strictEqual((yield* timedRegistration(h, "10.0.0.1:2375")).answer.status, 200)
      const refresh = yield* timedRegistration(h, "10.0.0.1:2375")
      assert.strictEqual(refresh.answer.status, 200)
      assert.strictEqual(refresh.elapsed, Duration.toMillis(PUT))
    })
  )
})
