import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Queue, Stream, TestClock } from "effect"
import type { KvSnapshot } from "../../src/KvStore.js"
import * as Memory from "../../src/KvStore/Memory.js"
import { subjectOf, testStore } from "../support/KvStoreSuite.js"

const keys = (snapshot: KvSnapshot) => snapshot.pairs.map((p) => p.key)

/** Collects every snapshot the watch emits into a queue. */
const watchInto = (store: Memory.MemoryKvStore, prefix: string) =>
  Effect.gen(function* () {
    const out = yield* Queue.unbounded<KvSnapshot>()
    yield* Effect.forkScoped(Stream.runForEach(store.watch(prefix), (s) => Queue.offer(out, s)))
    return out
  })

describe("KvStore/Memory: the KvStore suite", () => {
  testStore({ clock: "test", ttl: "10 seconds", make: subjectOf(Memory.make) })
})

describe("KvStore/Memory", () => {
  it.effect("stats: entries, clusters (non-empty directories) and expirations, at the caller's clock", () =>
    Effect.gen(function* () {
      const store = Memory.unsafeMake()
      yield* store.put("c1/a", "1", { ttl: Duration.seconds(10) })
      yield* store.put("c1/b", "1")
      yield* store.put("c2/a", "1", { ttl: Duration.seconds(10) })
      yield* Effect.scoped(Effect.andThen(watchInto(store, "watched/"), Queue.take))
      assert.deepStrictEqual(yield* store.stats, {
        entries: 3,
        clusters: 2,
        expirations: 0,
        deadlines: 2,
        directories: 3
      })
      yield* TestClock.adjust(Duration.seconds(10))
      // No other operation ran since: stats itself expires what is due.
      assert.deepStrictEqual(yield* store.stats, {
        entries: 1,
        clusters: 1,
        expirations: 2,
        deadlines: 0,
        directories: 2
      })
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
      yield* store.put("quiet/a", "1")
      const second = yield* Queue.take(out)
      assert.deepStrictEqual(keys(second), ["quiet/a"], "a dropped directory elsewhere is not a change here")
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
      // Past the old deadline: the watcher woke, found the key refreshed, and emitted nothing.
      yield* store.put("r/b", "2", { ttl: Duration.seconds(10) })
      assert.deepStrictEqual(
        keys(yield* Queue.take(out)),
        ["r/a", "r/b"],
        "the next snapshot is the next change"
      )
      yield* TestClock.adjust(Duration.seconds(5))
      assert.deepStrictEqual(keys(yield* Queue.take(out)), ["r/b"], "and sees the expiry at the new deadline")
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
