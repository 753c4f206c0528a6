/**
 * A cluster's count for the checks of a new key: etcd is asked once per prefix per `FRESH` while the count
 * is far from the bound, and every time near it; the store's own writes move the kept figure.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Fiber, TestClock } from "effect"
import * as Counts from "../../../src/internal/etcd/counts.js"
import { KvError } from "../../../src/KvStore.js"

/** A stand-in for etcd's count: what it answers per prefix, and how often it was asked. */
const fakeEtcd = (answers: Record<string, number>) => {
  const asked: Array<string> = []
  const count = (prefix: string) =>
    Effect.sync(() => {
      asked.push(prefix)
      return answers[prefix] ?? 0
    })
  return { asked, count, answers }
}

describe("etcd counts kept between counts", () => {
  it.effect("asks etcd once per FRESH, then again", () =>
    Effect.gen(function* () {
      const etcd = fakeEtcd({ "a/": 3 })
      const counts = Counts.make(etcd.count)
      assert.strictEqual(yield* counts.count("a/"), 3)
      etcd.answers["a/"] = 5 // another instance wrote
      assert.strictEqual(yield* counts.count("a/"), 3, "the kept figure stands while fresh")
      assert.deepStrictEqual(etcd.asked, ["a/"])
      yield* TestClock.adjust(Duration.subtract(Counts.FRESH, Duration.millis(1)))
      assert.strictEqual(yield* counts.count("a/"), 3)
      yield* TestClock.adjust(Duration.millis(1))
      assert.strictEqual(yield* counts.count("a/"), 5, "etcd's count once FRESH has passed")
      assert.deepStrictEqual(etcd.asked, ["a/", "a/"])
    })
  )

  it.effect("the store's own creates and deletes move the kept figure of the key's cluster only", () =>
    Effect.gen(function* () {
      const etcd = fakeEtcd({ "a/": 1, "b/": 7 })
      const counts = Counts.make(etcd.count)
      yield* counts.count("a/")
      yield* counts.count("b/")
      counts.created("a/10.0.0.2:1")
      counts.created("a/10.0.0.3:1")
      counts.removed("b/10.0.0.1:1")
      counts.created("c/10.0.0.1:1") // not kept: nothing to move
      assert.strictEqual(yield* counts.count("a/"), 3)
      assert.strictEqual(yield* counts.count("b/"), 6)
      assert.strictEqual(yield* counts.count("c/"), 0, "etcd's count for a cluster not kept")
      assert.deepStrictEqual(etcd.asked, ["a/", "b/", "c/"])
    })
  )

  it.effect("with a bound: trusted below half of it, etcd's count from there on", () =>
    Effect.gen(function* () {
      const max = 10
      const etcd = fakeEtcd({ "a/": 4 })
      const counts = Counts.make(etcd.count)
      assert.strictEqual(yield* counts.count("a/", max), 4)
      assert.strictEqual(yield* counts.count("a/", max), 4)
      assert.strictEqual(etcd.asked.length, 1, "4 < 10/2: kept")
      counts.created("a/x")
      etcd.answers["a/"] = 9 // the other instance filled it meanwhile
      assert.strictEqual(yield* counts.count("a/", max), 9, "5 is half the bound: etcd counts")
      assert.strictEqual(yield* counts.count("a/", max), 9)
      assert.strictEqual(etcd.asked.length, 3, "near the bound every check counts")
      assert.strictEqual(yield* counts.count("a/"), 9, "without a bound the fresh figure stands")
      assert.strictEqual(etcd.asked.length, 3)
    })
  )

  it.effect("concurrent askers share one etcd count", () =>
    Effect.gen(function* () {
      const gate = yield* Deferred.make<void>()
      let asked = 0
      const counts = Counts.make(() =>
        Effect.zipRight(
          Effect.sync(() => asked++),
          Effect.as(Deferred.await(gate), 2)
        )
      )
      const fibers = yield* Effect.forEach(Array.from({ length: 8 }), () =>
        Effect.fork(counts.count("a/", 4))
      )
      yield* Effect.yieldNow()
      assert.strictEqual(asked, 1)
      yield* Deferred.succeed(gate, undefined)
      const all = yield* Fiber.joinAll(fibers)
      assert.deepStrictEqual(
        all,
        Array.from({ length: 8 }, () => 2)
      )
      assert.strictEqual(asked, 1)
    })
  )

  it.effect("a failed count is the askers' error and is not kept", () =>
    Effect.gen(function* () {
      let fail = true
      const counts = Counts.make(() =>
        fail
          ? Effect.fail(new KvError({ store: "etcd", reason: "Timeout", detail: "count a/: no answer" }))
          : Effect.succeed(1)
      )
      const error = yield* Effect.flip(counts.count("a/"))
      assert.strictEqual(error.reason, "Timeout")
      fail = false
      assert.strictEqual(yield* counts.count("a/"), 1)
    })
  )
})

describe("etcd counts from the totals watch", () => {
  /** A stand-in for the watch's tally: undefined while not following. */
  const tally = (clusters: Record<string, number> | undefined) => {
    const created: Array<string> = []
    const watched: Counts.Watched = {
      inCluster: (cluster) => (clusters === undefined ? undefined : (clusters[cluster] ?? 0)),
      created: (key) => void created.push(key)
    }
    return { watched, created }
  }

  it.effect("while the watch follows, a cluster's count is its tally and etcd is not asked", () =>
    Effect.gen(function* () {
      const etcd = fakeEtcd({ "a/": 3 })
      const clusters = { a: 4 }
      const { created, watched } = tally(clusters)
      const counts = Counts.make(etcd.count, watched)
      const countA = counts.count("a/")
      assert.strictEqual(yield* countA, 4)
      clusters.a = 5
      assert.strictEqual(yield* countA, 5, "the tally as it is when the count runs")
      assert.strictEqual(yield* counts.count("b/", 10), 0)
      assert.deepStrictEqual(etcd.asked, [])
      counts.created("a/10.0.0.9:1")
      assert.deepStrictEqual(created, ["a/10.0.0.9:1"], "the watch is told of the store's own creates")
    })
  )

  it.effect("near a bound, or for a prefix that is not one cluster, etcd counts", () =>
    Effect.gen(function* () {
      const etcd = fakeEtcd({ "a/": 6, "a/b/": 2, "": 9 })
      const counts = Counts.make(etcd.count, tally({ a: 5 }).watched)
      assert.strictEqual(yield* counts.count("a/", 10), 6, "5 is half the bound")
      assert.strictEqual(yield* counts.count("a/b/"), 2)
      assert.strictEqual(yield* counts.count(""), 9)
      assert.deepStrictEqual(etcd.asked, ["a/", "a/b/", ""])
    })
  )

  it.effect("while the watch does not follow, etcd's kept count answers", () =>
    Effect.gen(function* () {
      const etcd = fakeEtcd({ "a/": 3 })
      const counts = Counts.make(etcd.count, tally(undefined).watched)
      assert.strictEqual(yield* counts.count("a/"), 3)
      assert.strictEqual(yield* counts.count("a/"), 3)
      assert.deepStrictEqual(etcd.asked, ["a/"])
    })
  )
})
