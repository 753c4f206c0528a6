import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Option, Queue, Stream, TestClock } from "effect"
import type { KvSnapshot } from "../../src/KvStore.js"
import * as Memory from "../../src/KvStore/Memory.js"

const keys = (snapshot: KvSnapshot) => snapshot.pairs.map((p) => p.key)

/** Collects every snapshot the watch emits into a queue. */
const watchInto = (store: ReturnType<typeof Memory.unsafeMake>, prefix: string) =>
  Effect.gen(function* () {
    const out = yield* Queue.unbounded<KvSnapshot>()
    yield* Effect.forkScoped(Stream.runForEach(store.watch(prefix), (s) => Queue.offer(out, s)))
    return out
  })

describe("KvStore/Memory", () => {
  it.effect("put, list by prefix, delete", () =>
    Effect.gen(function* () {
      const store = Memory.unsafeMake()
      assert.strictEqual(yield* store.put("a/x", "1"), "created")
      assert.strictEqual(yield* store.put("a/x", "2"), "updated")
      yield* store.put("a/y", "3")
      yield* store.put("b/z", "4")
      const a = yield* store.list("a/")
      assert.deepStrictEqual(a.pairs, [
        { key: "a/x", value: "2" },
        { key: "a/y", value: "3" }
      ])
      assert.isTrue(yield* store.delete("a/x"))
      assert.isFalse(yield* store.delete("a/x"))
      assert.deepStrictEqual(keys(yield* store.list("a/")), ["a/y"])
      assert.deepStrictEqual(keys(yield* store.list("")), ["a/y", "b/z"])
    })
  )

  it.effect("deletePrefix removes only what is under the prefix", () =>
    Effect.gen(function* () {
      const store = Memory.unsafeMake()
      yield* store.put("c/1/a", "x")
      yield* store.put("c/1/b", "x")
      yield* store.put("c/10/a", "x")
      assert.strictEqual(yield* store.deletePrefix("c/1/"), 2)
      assert.deepStrictEqual(keys(yield* store.list("c/")), ["c/10/a"])
    })
  )

  it.effect("a key expires exactly at its TTL", () =>
    Effect.gen(function* () {
      const store = Memory.unsafeMake()
      yield* store.put("k/a", "1", { ttl: Duration.seconds(10) })
      yield* TestClock.adjust(Duration.millis(9_999))
      assert.deepStrictEqual(keys(yield* store.list("k/")), ["k/a"])
      yield* TestClock.adjust(Duration.millis(1))
      assert.deepStrictEqual(keys(yield* store.list("k/")), [])
      assert.strictEqual((yield* store.stats).expirations, 1)
    })
  )

  it.effect("a put refreshes the TTL; a put without TTL keeps the key", () =>
    Effect.gen(function* () {
      const store = Memory.unsafeMake()
      yield* store.put("k/a", "1", { ttl: Duration.seconds(10) })
      yield* TestClock.adjust(Duration.seconds(6))
      yield* store.put("k/a", "1", { ttl: Duration.seconds(10) })
      yield* TestClock.adjust(Duration.seconds(6))
      assert.deepStrictEqual(keys(yield* store.list("k/")), ["k/a"])
      yield* TestClock.adjust(Duration.seconds(4))
      assert.deepStrictEqual(keys(yield* store.list("k/")), [])
      yield* store.put("k/b", "1")
      yield* TestClock.adjust(Duration.days(365))
      assert.deepStrictEqual(keys(yield* store.list("k/")), ["k/b"])
    })
  )

  it.effect("limit refuses new keys past the bound, but allows refreshes", () =>
    Effect.gen(function* () {
      const store = Memory.unsafeMake()
      const limit = { prefix: "c/", max: 2 }
      yield* store.put("c/a", "1", { limit })
      yield* store.put("c/b", "1", { limit })
      const error = yield* Effect.flip(store.put("c/c", "1", { limit }))
      assert.strictEqual(error.reason, "LimitExceeded")
      assert.strictEqual(yield* store.put("c/a", "2", { limit }), "updated")
    })
  )

  it.scoped("watch: the current snapshot first, then one per change, with a growing index", () =>
    Effect.gen(function* () {
      const store = Memory.unsafeMake()
      yield* store.put("w/a", "1")
      const out = yield* watchInto(store, "w/")
      const first = yield* Queue.take(out)
      assert.deepStrictEqual(keys(first), ["w/a"])
      yield* store.put("w/b", "2")
      const second = yield* Queue.take(out)
      assert.deepStrictEqual(keys(second), ["w/a", "w/b"])
      assert.isAbove(second.index, first.index)
      yield* store.delete("w/a")
      const third = yield* Queue.take(out)
      assert.deepStrictEqual(keys(third), ["w/b"])
      assert.isAbove(third.index, second.index)
    })
  )

  it.scoped("watch ignores changes under other prefixes", () =>
    Effect.gen(function* () {
      const store = Memory.unsafeMake()
      const out = yield* watchInto(store, "mine/")
      assert.deepStrictEqual(keys(yield* Queue.take(out)), [])
      yield* store.put("theirs/a", "1")
      yield* store.put("mine/a", "1")
      assert.deepStrictEqual(keys(yield* Queue.take(out)), ["mine/a"])
      assert.strictEqual(yield* Queue.size(out), 0)
    })
  )

  it.scoped("watch sees changes in nested directories, even after a direct key changed", () =>
    Effect.gen(function* () {
      const store = Memory.unsafeMake()
      yield* store.put("n/direct", "1")
      const out = yield* watchInto(store, "n/")
      assert.deepStrictEqual(keys(yield* Queue.take(out)), ["n/direct"])
      yield* store.put("n/sub/deep", "1")
      assert.deepStrictEqual(keys(yield* Queue.take(out)), ["n/direct", "n/sub/deep"])
    })
  )

  it.scoped("watch wakes up exactly when a key expires", () =>
    Effect.gen(function* () {
      const store = Memory.unsafeMake()
      yield* store.put("t/a", "1", { ttl: Duration.seconds(30) })
      const out = yield* watchInto(store, "t/")
      assert.deepStrictEqual(keys(yield* Queue.take(out)), ["t/a"])
      yield* TestClock.adjust(Duration.millis(29_999))
      for (let i = 0; i < 20; i++) yield* Effect.yieldNow()
      assert.strictEqual(yield* Queue.size(out), 0)
      yield* TestClock.adjust(Duration.millis(1))
      assert.deepStrictEqual(keys(yield* Queue.take(out)), [])
    })
  )

  it.scoped("stopping a watch leaves the store usable", () =>
    Effect.gen(function* () {
      const store = Memory.unsafeMake()
      const fiber = yield* Effect.fork(Stream.runCollect(store.watch("s/")))
      yield* Effect.yieldNow()
      yield* Fiber.interrupt(fiber)
      yield* store.put("s/a", "1")
      assert.isTrue(Option.isSome(yield* Stream.runHead(store.watch("s/"))))
    })
  )

  it.effect("refreshes do not grow the deadline heap, and expiry still happens at the last deadline", () =>
    Effect.gen(function* () {
      const store = Memory.unsafeMake()
      const ttl = { ttl: Duration.seconds(10) }
      for (let i = 0; i < 20; i++) yield* store.put(`h/${i}`, "x", ttl)
      for (let round = 0; round < 50; round++) {
        yield* TestClock.adjust(Duration.seconds(1))
        for (let i = 0; i < 20; i++) yield* store.put(`h/${i}`, "x", ttl)
      }
      assert.strictEqual((yield* store.stats).deadlines, 20, "one heap entry per key, not per refresh")
      yield* TestClock.adjust(Duration.millis(9_999))
      assert.strictEqual((yield* store.list("h/")).pairs.length, 20)
      yield* TestClock.adjust(Duration.millis(1))
      assert.strictEqual((yield* store.list("h/")).pairs.length, 0)
      assert.strictEqual((yield* store.stats).deadlines, 0)
      assert.strictEqual((yield* store.stats).expirations, 20)
    })
  )

  it.effect("a refresh to a shorter TTL moves the deadline earlier", () =>
    Effect.gen(function* () {
      const store = Memory.unsafeMake()
      yield* store.put("e/a", "1", { ttl: Duration.seconds(100) })
      yield* store.put("e/a", "1", { ttl: Duration.seconds(5) })
      yield* TestClock.adjust(Duration.seconds(5))
      assert.deepStrictEqual(keys(yield* store.list("e/")), [])
      yield* store.put("e/b", "1", { ttl: Duration.seconds(5) })
      yield* store.put("e/b", "1")
      yield* TestClock.adjust(Duration.days(1))
      assert.deepStrictEqual(keys(yield* store.list("e/")), ["e/b"], "dropping the TTL keeps the key")
      assert.strictEqual((yield* store.stats).deadlines, 0)
    })
  )

  it.effect("a list of an unchanged directory is the same snapshot; a change makes a new one", () =>
    Effect.gen(function* () {
      const store = Memory.unsafeMake()
      yield* store.put("s/b", "2")
      yield* store.put("s/a", "1")
      const first = yield* store.list("s/")
      assert.strictEqual(yield* store.list("s/"), first)
      yield* store.put("s/a", "1")
      yield* store.put("other/x", "1")
      assert.strictEqual(yield* store.list("s/"), first, "a refresh and another directory change nothing")
      yield* store.put("s/c", "3")
      const second = yield* store.list("s/")
      assert.notStrictEqual(second, first)
      assert.deepStrictEqual(keys(second), ["s/a", "s/b", "s/c"])
      assert.deepStrictEqual(keys(yield* store.list("s/a")), ["s/a"], "a prefix that is not a directory")
    })
  )

  it.effect("empty directories are dropped, and an index never goes back", () =>
    Effect.gen(function* () {
      const store = Memory.unsafeMake()
      for (let i = 0; i < 100; i++) yield* store.put(`c${i}/a`, "x", { ttl: Duration.seconds(1) })
      assert.strictEqual((yield* store.stats).directories, 101)
      const before = (yield* store.list("c7/")).index
      yield* TestClock.adjust(Duration.seconds(1))
      assert.strictEqual((yield* store.list("")).pairs.length, 0)
      assert.strictEqual((yield* store.stats).directories, 0)
      const emptied = (yield* store.list("c7/")).index
      assert.isAbove(emptied, before, "emptying a directory moves its index forward")
      yield* store.put("c7/b", "x")
      assert.isAbove((yield* store.list("c7/")).index, emptied)
    })
  )

  it.scoped("a watched empty directory is kept, and a refresh elsewhere does not wake its watcher", () =>
    Effect.gen(function* () {
      const store = Memory.unsafeMake()
      const out = yield* watchInto(store, "quiet/")
      const first = yield* Queue.take(out)
      assert.deepStrictEqual(keys(first), [])
      yield* store.put("busy/a", "1", { ttl: Duration.seconds(1) })
      yield* TestClock.adjust(Duration.seconds(1))
      yield* store.list("busy/")
      for (let i = 0; i < 20; i++) yield* Effect.yieldNow()
      assert.strictEqual(yield* Queue.size(out), 0, "a dropped directory elsewhere is not a change here")
      yield* store.put("quiet/a", "1")
      const second = yield* Queue.take(out)
      assert.deepStrictEqual(keys(second), ["quiet/a"])
      assert.isAbove(second.index, first.index)
    })
  )

  it.scoped("a watcher whose keys are refreshed wakes at the old deadline and emits nothing", () =>
    Effect.gen(function* () {
      const store = Memory.unsafeMake()
      yield* store.put("r/a", "1", { ttl: Duration.seconds(10) })
      const out = yield* watchInto(store, "r/")
      yield* Queue.take(out)
      yield* TestClock.adjust(Duration.seconds(5))
      yield* store.put("r/a", "1", { ttl: Duration.seconds(10) })
      yield* TestClock.adjust(Duration.seconds(5))
      for (let i = 0; i < 20; i++) yield* Effect.yieldNow()
      assert.strictEqual(yield* Queue.size(out), 0)
      yield* TestClock.adjust(Duration.seconds(5))
      assert.deepStrictEqual(keys(yield* Queue.take(out)), [], "and sees the expiry at the new deadline")
    })
  )

  it.scoped("a refresh to an earlier deadline wakes a sleeping watcher at the new one", () =>
    Effect.gen(function* () {
      const store = Memory.unsafeMake()
      yield* store.put("x/a", "1", { ttl: Duration.seconds(100) })
      const out = yield* watchInto(store, "x/")
      yield* Queue.take(out)
      yield* store.put("x/a", "1", { ttl: Duration.seconds(2) })
      yield* TestClock.adjust(Duration.seconds(2))
      assert.deepStrictEqual(keys(yield* Queue.take(out)), [])
    })
  )

  it("getNamed shares one store per name", () => {
    assert.strictEqual(Memory.getNamed("kv-test-shared"), Memory.getNamed("kv-test-shared"))
    assert.notStrictEqual(Memory.getNamed("kv-test-shared"), Memory.getNamed("kv-test-other"))
  })
})
