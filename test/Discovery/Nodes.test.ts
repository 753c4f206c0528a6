import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Either, Fiber, Option, Stream, TestClock } from "effect"
import * as Discovery from "../../src/Discovery.js"
import * as Entries from "../../src/Entries.js"
import * as Entry from "../../src/Entry.js"
import * as Nodes from "../../src/Discovery/Nodes.js"

const first = (url: string) =>
  Effect.flatMap(Discovery.make(url), (d) => Stream.runHead(d.watch)).pipe(
    Effect.map((head) => Entries.format(Option.getOrThrow(head)))
  )

const failure = (url: string) =>
  Effect.flip(Effect.flatMap(Discovery.make(url), (d) => Stream.runHead(d.watch)))

describe("nodes://", () => {
  it.scoped("lists the given entries, as a set", () =>
    Effect.gen(function* () {
      assert.deepStrictEqual(yield* first("nodes://10.0.0.2:2375,10.0.0.1:2375,10.0.0.2:2375"), [
        "10.0.0.1:2375",
        "10.0.0.2:2375"
      ])
    })
  )

  it.scoped("a bare list means nodes://", () =>
    Effect.gen(function* () {
      assert.deepStrictEqual(yield* first("10.0.0.1:2375, [2001:db8::1]:2375"), [
        "10.0.0.1:2375",
        "[2001:db8::1]:2375"
      ])
    })
  )

  it.scoped("expands ranges, including in the port", () =>
    Effect.gen(function* () {
      assert.deepStrictEqual(yield* first("nodes://10.0.0.[1:3]:2375,192.168.1.2:[2:3]375"), [
        "10.0.0.1:2375",
        "10.0.0.2:2375",
        "10.0.0.3:2375",
        "192.168.1.2:2375",
        "192.168.1.2:3375"
      ])
    })
  )

  it.scoped("a bad address fails when the backend is built, naming it", () =>
    Effect.gen(function* () {
      const error = yield* failure("nodes://10.0.0.1:2375,10.0.0.2")
      assert.strictEqual(error._tag, "InvalidEntry")
      assert.include(error.message, '"10.0.0.2"')
      assert.include(error.message, "missing port")
      const port = yield* failure("nodes://10.0.0.1:65536")
      assert.include(port.message, "65536")
    })
  )

  it.scoped("a bad range fails with its position", () =>
    Effect.gen(function* () {
      const error = yield* failure("nodes://10.0.0.[9:2]:2375")
      assert.strictEqual(error._tag, "InvalidRange")
      if (error._tag === "InvalidRange") assert.strictEqual(error.position, 7)
      assert.include(error.message, "reversed")
    })
  )

  it.scoped("an empty list or an empty item is an invalid URL", () =>
    Effect.gen(function* () {
      assert.strictEqual((yield* failure("nodes://"))._tag, "InvalidUrl")
      const error = yield* failure("nodes://a:1,,b:2")
      assert.strictEqual(error._tag, "InvalidUrl")
      assert.include(error.message, "empty item")
    })
  )

  it.scoped("register and deregister fail as not implemented, with a hint", () =>
    Effect.gen(function* () {
      const d = yield* Discovery.make("nodes://a:1")
      const entry = Entry.make("a", 1)
      assert.isTrue(d.readOnly)
      for (const error of [yield* Effect.flip(d.register(entry)), yield* Effect.flip(d.deregister(entry))]) {
        assert.strictEqual(error._tag, "NotImplemented")
        assert.include(error.message, "nodes:// is a static list")
        assert.include(error.message, "memory://")
      }
    })
  )

  it.scoped("watch emits once and stays open", () =>
    Effect.gen(function* () {
      const d = yield* Discovery.make("nodes://a:1")
      const fiber = yield* Effect.fork(Stream.runCollect(d.watch))
      yield* TestClock.adjust(Duration.days(7))
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)), "the watch stream ended")
      yield* Fiber.interrupt(fiber)
      const two = yield* Stream.runCollect(Stream.take(d.watch, 1))
      assert.strictEqual(two.length, 1)
    })
  )
})

describe("Nodes.parsePatterns", () => {
  it("caps what one pattern expands to, not the total over all patterns", () => {
    const ok = Nodes.parsePatterns(["h[1:5]:1", "g[1:6]:1", "f[1:6]:1"], { max: 10 })
    assert.strictEqual(Either.getOrThrow(ok).length, 17)
    const over = Nodes.parsePatterns(["h[1:5]:1", "g[1:11]:1"], { max: 10 })
    assert.isTrue(Either.isLeft(over))
    if (Either.isLeft(over))
      assert.include(over.left.message, "expands to 11 addresses, more than the limit of 10")
  })

  it("takes 100,000 addresses written out one by one", () => {
    const lines = Array.from(
      { length: 100_000 },
      (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:2375`
    )
    assert.strictEqual(Either.getOrThrow(Nodes.parsePatterns(lines)).length, 100_000)
  })

  it("adds where a bad pattern came from", () => {
    const result = Nodes.parsePatterns(["a:1", "", "b"], { where: (i) => `line ${i + 1}` })
    assert.isTrue(Either.isLeft(result))
    if (Either.isLeft(result)) {
      assert.include(result.left.message, "line 3")
      assert.include(result.left.message, '"b"')
    }
  })
})
