import { assert, describe, it } from "@effect/vitest"
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  rmSync,
  statSync,
  writeSync
} from "node:fs"
import { tmpdir } from "node:os"
import { basename, dirname, join } from "node:path"
import { Duration, Effect, Either, Exit, Fiber, Option, Queue, Scope, Stream, TestClock } from "effect"
import type { KvSnapshot } from "../../src/KvStore.js"
import * as Sqlite from "../../src/KvStore/Sqlite.js"
import * as Commits from "../../src/internal/sqlite/commits.js"
import { upperBound } from "../../src/internal/sqlite/keys.js"
import { unavailable } from "../../src/internal/sqlite/open.js"
import type { Statements } from "../../src/internal/sqlite/statements.js"

const tempFile = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "swarm-sqlite-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
).pipe(Effect.map((dir) => join(dir, "test.db")))

/** A store in a fresh file, closed with the test's scope. */
const fresh = Effect.flatMap(tempFile, (filename) => Sqlite.make({ filename }))

/** Opens `filename` in its own scope, so a test can close and reopen it. */
const open = (filename: string, options: Partial<Sqlite.SqliteConfig> = {}) =>
  Effect.gen(function* () {
    const scope = yield* Scope.make()
    const store = yield* Sqlite.make({ filename, ...options }).pipe(Scope.extend(scope))
    return { store, close: Scope.close(scope, Exit.void) }
  })

const keys = (snapshot: { pairs: ReadonlyArray<{ key: string }> }) => snapshot.pairs.map((p) => p.key)

describe("upperBound", () => {
  it("is the smallest string above every extension of the prefix", () => {
    assert.strictEqual(upperBound("abc/"), "abc0")
    assert.strictEqual(upperBound(""), undefined)
    assert.strictEqual(upperBound("a\u{10FFFF}"), "b")
    assert.strictEqual(upperBound("\u{d7ff}"), "\u{e000}")
  })
})

describe("Sqlite KvStore", () => {
  it.scoped("put, list (sorted), delete and deletePrefix", () =>
    Effect.gen(function* () {
      const store = yield* fresh
      assert.strictEqual(yield* store.put("c/b", "2"), "created")
      assert.strictEqual(yield* store.put("c/a", "1"), "created")
      assert.strictEqual(yield* store.put("c/a", "1b"), "updated")
      yield* store.put("d/x", "3")
      yield* store.put("c0", "not under c/")
      const c = yield* store.list("c/")
      assert.deepStrictEqual(c.pairs, [
        { key: "c/a", value: "1b" },
        { key: "c/b", value: "2" }
      ])
      assert.deepStrictEqual(keys(yield* store.list("")), ["c/a", "c/b", "c0", "d/x"])
      assert.isTrue(yield* store.delete("c/a"))
      assert.isFalse(yield* store.delete("c/a"))
      assert.strictEqual(yield* store.deletePrefix("c/"), 1)
      assert.deepStrictEqual(keys(yield* store.list("")), ["c0", "d/x"])
      assert.strictEqual((yield* store.stats).entries, 2)
    })
  )

  it.scoped("a key is present 1ms before its TTL and gone at it", () =>
    Effect.gen(function* () {
      const store = yield* fresh
      yield* store.put("t/a", "a", { ttl: Duration.seconds(10) })
      yield* TestClock.adjust(Duration.millis(9_999))
      assert.deepStrictEqual(keys(yield* store.list("t/")), ["t/a"])
      yield* TestClock.adjust(Duration.millis(1))
      assert.deepStrictEqual(keys(yield* store.list("t/")), [])
      assert.isFalse(yield* store.delete("t/a"), "an expired key does not count as deleted")
    })
  )

  it.scoped("a put refreshes the TTL", () =>
    Effect.gen(function* () {
      const store = yield* fresh
      yield* store.put("t/a", "a", { ttl: Duration.seconds(10) })
      yield* TestClock.adjust(Duration.seconds(8))
      assert.strictEqual(yield* store.put("t/a", "a", { ttl: Duration.seconds(10) }), "updated")
      yield* TestClock.adjust(Duration.seconds(8))
      assert.deepStrictEqual(keys(yield* store.list("t/")), ["t/a"])
      yield* TestClock.adjust(Duration.seconds(2))
      assert.deepStrictEqual(keys(yield* store.list("t/")), [])
      // Gone means gone: putting it again creates it.
      assert.strictEqual(yield* store.put("t/a", "a", { ttl: Duration.seconds(10) }), "created")
    })
  )

  it.scoped("a refresh with a shorter TTL moves the deadline earlier, even for a listed key", () =>
    Effect.gen(function* () {
      const store = yield* fresh
      yield* store.put("t/a", "a", { ttl: Duration.seconds(100) })
      assert.deepStrictEqual(keys(yield* store.list("t/")), ["t/a"])
      yield* store.put("t/a", "a", { ttl: Duration.seconds(5) })
      yield* TestClock.adjust(Duration.millis(4_999))
      assert.deepStrictEqual(keys(yield* store.list("t/")), ["t/a"])
      yield* TestClock.adjust(Duration.millis(1))
      assert.deepStrictEqual(keys(yield* store.list("t/")), [])
      // And from no TTL to one.
      yield* store.put("t/b", "b")
      assert.deepStrictEqual(keys(yield* store.list("t/")), ["t/b"])
      yield* store.put("t/b", "b", { ttl: Duration.seconds(1) })
      yield* TestClock.adjust(Duration.seconds(1))
      assert.deepStrictEqual(keys(yield* store.list("t/")), [])
    })
  )

  it.scoped("the sweeper deletes what expired and counts it", () =>
    Effect.gen(function* () {
      const store = yield* fresh
      yield* Effect.forEach([1, 2, 3], (i) => store.put(`s/${i}`, "x", { ttl: Duration.seconds(i) }))
      yield* store.put("s/forever", "x")
      yield* TestClock.adjust(Duration.seconds(2))
      const stats = yield* store.stats
      assert.strictEqual(stats.expirations, 2)
      assert.strictEqual(stats.entries, 2)
      yield* TestClock.adjust(Duration.seconds(1))
      assert.strictEqual((yield* store.stats).entries, 1)
    })
  )

  it.scoped("expiry happens in bounded batches", () =>
    Effect.gen(function* () {
      const filename = yield* tempFile
      // Commits at once: nothing between the clock and the sweeper's commits runs on a real timer.
      // The scheduler also records how many keys each commit expired.
      const perCommit: Array<number> = []
      let view: Sqlite.SqliteKvStore | undefined
      let seen = 0
      const store = yield* Sqlite.make({
        filename,
        sweepBatch: 7,
        scheduleCommit: (commit) => {
          Sqlite.atOnce(commit)
          const expired = view === undefined ? 0 : Effect.runSync(view.stats).expirations
          if (expired > seen) perCommit.push(expired - seen)
          seen = expired
        }
      })
      view = store
      yield* Effect.forEach(
        Array.from({ length: 50 }, (_, i) => i),
        (i) => store.put(`b/${String(i).padStart(2, "0")}`, "x", { ttl: Duration.seconds(5) })
      )
      yield* TestClock.adjust(Duration.seconds(5))
      const stats = yield* store.stats
      assert.strictEqual(stats.expirations, 50)
      assert.strictEqual(stats.entries, 0)
      assert.deepStrictEqual(perCommit, [7, 7, 7, 7, 7, 7, 7, 1])
      assert.strictEqual((yield* store.list("b/")).pairs.length, 0)
    })
  )

  it.scoped("limit refuses a new key at max but lets existing ones refresh", () =>
    Effect.gen(function* () {
      const store = yield* fresh
      const limit = { prefix: "l/", max: 2 }
      yield* store.put("l/a", "a", { limit })
      yield* store.put("l/b", "b", { limit, ttl: Duration.seconds(5) })
      const refused = yield* Effect.either(store.put("l/c", "c", { limit }))
      assert.isTrue(Either.isLeft(refused))
      if (Either.isLeft(refused)) assert.strictEqual(refused.left.reason, "LimitExceeded")
      assert.strictEqual(yield* store.put("l/a", "a2", { limit }), "updated")
      // Once one expires there is room again.
      yield* TestClock.adjust(Duration.seconds(5))
      assert.strictEqual(yield* store.put("l/c", "c", { limit }), "created")
    })
  )

  it.scoped("the index grows with changes, per directory, and not with refreshes", () =>
    Effect.gen(function* () {
      const store = yield* fresh
      const i0 = (yield* store.list("x/")).index
      yield* store.put("x/a", "a", { ttl: Duration.seconds(10) })
      const i1 = (yield* store.list("x/")).index
      assert.isAbove(i1, i0)
      yield* store.put("y/a", "a")
      assert.strictEqual((yield* store.list("x/")).index, i1, "another directory's change")
      yield* store.put("x/a", "a", { ttl: Duration.seconds(10) })
      assert.strictEqual((yield* store.list("x/")).index, i1, "a refresh changes nothing")
      yield* store.put("x/a", "a2", { ttl: Duration.seconds(10) })
      const i2 = (yield* store.list("x/")).index
      assert.isAbove(i2, i1)
      yield* store.delete("x/a")
      const i3 = (yield* store.list("x/")).index
      assert.isAbove(i3, i2, "emptying a directory still moves its index forward")
      yield* store.put("x/b", "b")
      assert.isAbove((yield* store.list("x/")).index, i3)
      // The root sees everything.
      const root = (yield* store.list("")).index
      yield* store.put("z/q", "q")
      assert.isAbove((yield* store.list("")).index, root)
    })
  )

  /** Runs `watch(prefix)` into a queue, so a test can take snapshots one at a time. */
  const watching = (store: Sqlite.SqliteKvStore, prefix: string) =>
    Effect.gen(function* () {
      const queue = yield* Queue.unbounded<KvSnapshot>()
      yield* store.watch(prefix).pipe(
        Stream.runForEach((s) => Queue.offer(queue, s)),
        Effect.forkScoped
      )
      return queue
    })

  it.scoped("watch: the current snapshot, then one per change, including expiry", () =>
    Effect.gen(function* () {
      const store = yield* fresh
      yield* store.put("w/a", "a")
      const queue = yield* watching(store, "w/")
      const first = yield* Queue.take(queue)
      assert.deepStrictEqual(keys(first), ["w/a"])
      yield* store.put("w/b", "b", { ttl: Duration.seconds(3) })
      const second = yield* Queue.take(queue)
      assert.deepStrictEqual(keys(second), ["w/a", "w/b"])
      yield* store.put("elsewhere/x", "x")
      yield* store.delete("w/a")
      const third = yield* Queue.take(queue)
      assert.deepStrictEqual(keys(third), ["w/b"], "another directory's change is not an event here")
      yield* TestClock.adjust(Duration.seconds(3))
      const fourth = yield* Queue.take(queue)
      assert.deepStrictEqual(keys(fourth), [])
      const indexes = [first, second, third, fourth].map((s) => s.index)
      assert.deepStrictEqual(
        [...indexes].sort((a, b) => a - b),
        indexes
      )
      assert.strictEqual(new Set(indexes).size, 4)
      // A refresh is not a change: nothing more arrives.
      yield* store.put("w/c", "c")
      yield* Queue.take(queue)
      yield* store.put("w/c", "c")
      yield* Effect.yieldNow()
      assert.strictEqual(yield* Queue.size(queue), 0)
    })
  )

  it.scoped("watch on a prefix that is not a directory", () =>
    Effect.gen(function* () {
      const store = yield* fresh
      const queue = yield* watching(store, "p/ab")
      assert.deepStrictEqual(keys(yield* Queue.take(queue)), [])
      yield* store.put("p/xyz", "0")
      yield* store.put("p/abc", "1")
      assert.deepStrictEqual(keys(yield* Queue.take(queue)), ["p/abc"])
    })
  )

  it.effect("close and reopen: live keys stay, expired ones go, the index does not go back", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const filename = yield* tempFile.pipe(Scope.extend(scope))
      const first = yield* open(filename)
      yield* first.store.put("r/long", "long", { ttl: Duration.seconds(60) })
      yield* first.store.put("r/short", "short", { ttl: Duration.seconds(5) })
      yield* first.store.put("r/forever", "forever")
      yield* first.store.put("gone/x", "x")
      yield* first.store.delete("gone/x")
      const before = (yield* first.store.list("r/")).index
      const goneBefore = (yield* first.store.list("gone/")).index
      yield* first.close
      yield* TestClock.adjust(Duration.seconds(10))

      const second = yield* open(filename)
      const after = yield* second.store.list("r/")
      assert.deepStrictEqual(keys(after), ["r/forever", "r/long"])
      assert.isAtLeast(after.index, before)
      assert.isAtLeast((yield* second.store.list("gone/")).index, goneBefore)
      // The expired key is swept (and counted) by the new store.
      yield* TestClock.adjust(Duration.millis(1))
      assert.strictEqual((yield* second.store.stats).expirations, 1)
      assert.isAbove((yield* second.store.list("r/")).index, before)
      yield* second.store.put("r/new", "n")
      assert.isAbove((yield* second.store.list("r/")).index, after.index)
      yield* second.close
      yield* Scope.close(scope, Exit.void)
    })
  )

  it.scoped("a second store on the same file is refused with a clear message", () =>
    Effect.gen(function* () {
      const filename = yield* tempFile
      yield* Sqlite.make({ filename })
      const second = yield* Effect.either(Effect.scoped(Sqlite.make({ filename })))
      assert.isTrue(Either.isLeft(second))
      if (Either.isLeft(second)) assert.include(second.left.message, "in use by another process")
    })
  )

  it.effect("a closed store fails its operations and ends its watchers", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const filename = yield* tempFile.pipe(Scope.extend(scope))
      const { store, close } = yield* open(filename, { synchronous: "full" })
      const watcher = yield* store.watch("c/").pipe(Stream.runDrain, Effect.either, Effect.fork)
      yield* Effect.yieldNow()
      yield* close
      const ended = yield* Fiber.join(watcher)
      assert.isTrue(Either.isLeft(ended))
      const put = yield* Effect.either(store.put("c/a", "a"))
      assert.isTrue(Either.isLeft(put))
      if (Either.isLeft(put)) assert.include(put.left.detail, "closed")
      yield* Scope.close(scope, Exit.void)
    })
  )

  it.scoped("an unwritable path fails with the path in the message", () =>
    Effect.gen(function* () {
      const result = yield* Effect.either(Sqlite.make({ filename: "/proc/no-such-dir/x.db" }))
      assert.isTrue(Either.isLeft(result))
      if (Either.isLeft(result)) assert.include(result.left.message, "/proc/no-such-dir/x.db")
    })
  )

  it.scoped("works in memory too", () =>
    Effect.gen(function* () {
      const store = yield* Sqlite.make({ filename: ":memory:" })
      yield* store.put("m/a", "a")
      assert.deepStrictEqual(keys(yield* store.list("m/")), ["m/a"])
      assert.strictEqual(store.filename, ":memory:")
    })
  )

  it.scoped("empty directories are dropped: the mirror holds live clusters, not every one ever seen", () =>
    Effect.gen(function* () {
      const store = yield* fresh
      yield* Effect.forEach(
        Array.from({ length: 200 }, (_, i) => i),
        (i) => store.put(`c${i}/a`, "x", { ttl: Duration.seconds(1) })
      )
      yield* store.put("kept/a", "x")
      assert.strictEqual((yield* store.stats).clusters, 201)
      yield* TestClock.adjust(Duration.seconds(1))
      assert.strictEqual((yield* store.stats).clusters, 1)
      assert.strictEqual((yield* store.stats).entries, 1)
    })
  )
})

/** A deterministic stand-in for random bytes (the test must fail or pass the same way every run). */
const noise = (length: number, seed: number): Buffer => {
  const out = Buffer.alloc(length)
  let x = seed
  for (let i = 0; i < length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0
    out[i] = x >>> 24
  }
  return out
}

const damage = (filename: string, at: number, seed: number) => {
  const fd = openSync(filename, "r+")
  writeSync(fd, noise(512, seed), 0, 512, at)
  closeSync(fd)
}

/** A closed database file holding `entries` keys in clusters of ten, as the server writes them. */
const filled = (entries: number) =>
  Effect.gen(function* () {
    const filename = yield* tempFile
    const { store, close } = yield* open(filename)
    for (let i = 0; i < entries; i++) {
      const address = `10.0.${i >> 8}.${i & 255}:2375`
      yield* store.early.put(`${String(Math.floor(i / 10)).padStart(32, "0")}/${address}`, address, {
        ttl: Duration.hours(1)
      })
    }
    // The highest index this file handed out: what a recovered store must restart above.
    const handedOut = (yield* store.list("")).index
    yield* close
    return { filename, handedOut }
  })

describe("Sqlite integrity", () => {
  it.scoped("a sound file opens, and recover leaves it alone", () =>
    Effect.gen(function* () {
      const { filename } = yield* filled(100)
      assert.isTrue(Option.isNone(yield* Sqlite.recover(filename)))
      const { store, close } = yield* open(filename)
      assert.strictEqual((yield* store.list("")).pairs.length, 100)
      yield* close
      assert.isTrue(Option.isNone(yield* Sqlite.recover(join(dirname(filename), "missing.db"))))
    })
  )

  for (const [name, where] of [
    ["512 bytes in the middle", (size: number) => Math.floor(size / 2)],
    ["the header", () => 0]
  ] as const) {
    it.scoped(`a file damaged in ${name} is refused, and recover brings back what is readable`, () =>
      Effect.gen(function* () {
        const entries = 3000
        // Recovery reads the clock when the revisions are unreadable: the wall clock, as `--recover` has it.
        yield* TestClock.setTime(Date.now())
        const { filename, handedOut } = yield* filled(entries)
        damage(filename, where(statSync(filename).size), 7)

        const refused = yield* Effect.flip(Effect.scoped(Sqlite.make({ filename })))
        assert.strictEqual(refused._tag, "DatabaseDamaged")
        assert.include(refused.message, filename)
        assert.include(refused.message, "--recover")
        const damagedBytes = statSync(filename).size

        const recovery = yield* Sqlite.recover(filename)
        assert.isTrue(Option.isSome(recovery))
        if (Option.isNone(recovery)) return
        const { accounted, aside, recovered, unreadable } = recovery.value
        assert.strictEqual(dirname(aside), dirname(filename))
        assert.match(basename(aside), /^test\.db\.damaged-/)
        assert.strictEqual(statSync(aside).size, damagedBytes, "the damaged file is kept as it was")
        assert.isAtMost(recovered, entries)
        assert.isAtMost(recovered + unreadable, entries)
        if (accounted)
          assert.strictEqual(recovered + unreadable, entries, "every entry is either copied or counted lost")

        const { store, close } = yield* open(filename)
        const listed = (yield* store.list("")).pairs
        assert.strictEqual(listed.length, recovered)
        for (const { key, value } of listed) assert.isTrue(key.endsWith(`/${value}`), `${key} holds ${value}`)
        // The index restarts above anything the damaged file handed out.
        assert.isAbove((yield* store.list("any/")).index, handedOut)
        assert.isAbove((yield* store.list("")).index, handedOut)
        assert.strictEqual(yield* store.put("new/a", "a"), "created")
        yield* close
        assert.isTrue(Option.isNone(yield* Sqlite.recover(filename)), "the new file is sound")
        assert.isTrue(existsSync(aside))
        assert.isAtLeast(readdirSync(dirname(filename)).filter((f) => f.includes("damaged")).length, 1)
      })
    )
  }

  it.scoped("the middle-of-file damage still recovers most entries", () =>
    Effect.gen(function* () {
      const { filename } = yield* filled(3000)
      damage(filename, Math.floor(statSync(filename).size / 2), 7)
      const recovery = yield* Sqlite.recover(filename)
      assert.isTrue(Option.isSome(recovery))
      if (Option.isSome(recovery)) assert.isAbove(recovery.value.recovered, 2000)
    })
  )
})

describe("Sqlite commits", () => {
  const full = Object.assign(new Error("database or disk is full"), { code: "SQLITE_FULL" })
  /** Statements whose commit fails as a full disk does. */
  const failing = {
    begin: { run: () => ({ changes: 0 }) },
    commit: {
      run: () => {
        throw full
      }
    }
  } as unknown as Statements

  for (const [name, schedule] of [
    ["at once", Commits.atOnce],
    ["next turn", Commits.nextTurn]
  ] as const) {
    it.effect(
      `a failed commit (${name}) fails its writes with the driver's error as cause, and wakes no watcher`,
      () =>
        Effect.gen(function* () {
          let reloads = 0
          const woken: Array<string> = []
          const commits = Commits.make({
            q: failing,
            schedule,
            closed: () => undefined,
            failure: unavailable("/data/discovery.db"),
            committed: (touched) => woken.push(...touched),
            rolledBack: () => reloads++,
            rollback: () => {}
          })
          const write = commits.durable("cannot write to", () =>
            Commits.applied("created", new Set(["a/"]), ["a/x"])
          )
          const error = yield* Effect.flip(write)
          assert.strictEqual(error.reason, "Unavailable")
          assert.strictEqual(error.cause, full)
          assert.include(error.detail, "SQLITE_FULL", "the log says what happened")
          assert.include(error.detail, "/data/discovery.db", "and to which file")
          assert.strictEqual(reloads, 1, "the mirror is reloaded from the file")
          assert.deepStrictEqual(woken, [])
        })
    )
  }
})
