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
import { Duration, Effect, Either, Exit, Fiber, Option, Scope, Stream, TestClock } from "effect"
import * as Sqlite from "../../src/KvStore/Sqlite.js"
import * as Commits from "../../src/internal/sqlite/commits.js"
import { upperBound } from "../../src/internal/sqlite/keys.js"
import { unavailable } from "../../src/internal/sqlite/open.js"
import type { Statements } from "../../src/internal/sqlite/statements.js"
import { subjectOf, testStore } from "../support/KvStoreSuite.js"

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

describe("KvStore/Sqlite: the KvStore suite", () => {
  testStore({ clock: "test", ttl: "10 seconds", make: subjectOf(fresh) })
})

describe("Sqlite KvStore", () => {
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

  it.scoped("limit: a key past its TTL does not count, even before the sweeper removed it", () =>
    Effect.gen(function* () {
      const store = yield* fresh
      const limit = { prefix: "l/", max: 2 }
      yield* store.put("l/a", "a", { limit })
      yield* store.put("l/b", "b", { limit, ttl: Duration.seconds(5) })
      const refused = yield* Effect.flip(store.put("l/c", "c", { limit }))
      assert.strictEqual(refused.reason, "LimitExceeded")
      yield* TestClock.adjust(Duration.seconds(5))
      assert.strictEqual(yield* store.put("l/c", "c", { limit }), "created")
    })
  )

  it.scoped(
    "the index is per directory: another directory's change leaves it; the root sees every change",
    () =>
      Effect.gen(function* () {
        const store = yield* fresh
        yield* store.put("x/a", "a", { ttl: Duration.seconds(10) })
        const i1 = (yield* store.list("x/")).index
        yield* store.put("y/a", "a")
        assert.strictEqual((yield* store.list("x/")).index, i1, "another directory's change")
        const root = (yield* store.list("")).index
        yield* store.put("z/q", "q")
        assert.isAbove((yield* store.list("")).index, root)
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
      yield* store.put("kept/b", "x")
      assert.strictEqual((yield* store.stats).clusters, 201)
      yield* TestClock.adjust(Duration.seconds(1))
      assert.strictEqual((yield* store.stats).clusters, 1)
      assert.strictEqual((yield* store.stats).entries, 2)
      assert.strictEqual(yield* store.deletePrefix("kept/"), 2)
      const emptied = yield* store.stats
      assert.strictEqual(emptied.entries, 0)
      assert.strictEqual(emptied.clusters, 0)
      assert.strictEqual(emptied.expirations, 200)
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
