import { assert, describe, it } from "@effect/vitest"
import { Chunk, Duration, Effect, Either, Exit, Layer, Option, Stream } from "effect"
import * as Discovery from "../src/Discovery.js"
import * as Entries from "../src/Entries.js"
import * as Entry from "../src/Entry.js"

const list = (...inputs: Array<string>): Entries.Entries =>
  inputs.map((s) => Either.getOrThrow(Entry.parse(s)))
const show = (change: Discovery.Change) => ({
  added: Entries.format(change.added),
  removed: Entries.format(change.removed)
})

describe("Discovery.make / layer", () => {
  it.scoped("dispatches by scheme, and a bare list is nodes", () =>
    Effect.gen(function* () {
      for (const url of ["nodes://a:1,b:2", "a:1,b:2", "NODES://a:1,b:2"]) {
        const d = yield* Discovery.make(url)
        const head = yield* Stream.runHead(d.watch)
        assert.deepStrictEqual(Entries.format(Option.getOrThrow(head)), ["a:1", "b:2"], url)
      }
      const memory = yield* Discovery.make(`memory://dispatch-${process.pid}`)
      yield* memory.register(Entry.make("c", 3))
      assert.deepStrictEqual(Entries.format(Option.getOrThrow(yield* Stream.runHead(memory.watch))), ["c:3"])
    })
  )

  it.scoped("an unknown scheme fails with NotSupported", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(Discovery.make("redis://h:6379"))
      assert.strictEqual(error._tag, "NotSupported")
      assert.include(error.message, "discovery service not supported")
    })
  )

  it.effect("layer fails to build on a bad URL, with the typed error", () =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(Effect.scoped(Layer.build(Discovery.layer("ftp://x"))))
      assert.isTrue(Exit.isFailure(exit))
      const unsupported = yield* Effect.flip(Effect.scoped(Layer.build(Discovery.layer("ftp://x"))))
      assert.strictEqual(unsupported._tag, "NotSupported")
      const empty = yield* Effect.flip(Effect.scoped(Layer.build(Discovery.layer(""))))
      assert.strictEqual(empty._tag, "InvalidUrl")
    })
  )

  it.effect("the layer provides the Discovery service", () =>
    Effect.gen(function* () {
      const d = yield* Discovery.Discovery
      const error = yield* Effect.flip(d.register(Entry.make("a", 1)))
      assert.strictEqual(error._tag, "NotImplemented")
    }).pipe(Effect.provide(Discovery.layer("nodes://a:1")))
  )

  it("resolveOptions fills Swarm's defaults", () => {
    const resolved = Discovery.resolveOptions()
    assert.strictEqual(Duration.toMillis(resolved.heartbeat), 60_000)
    assert.strictEqual(Duration.toMillis(resolved.ttl), 180_000)
    assert.deepStrictEqual(resolved.options, {})
    const custom = Discovery.resolveOptions({
      heartbeat: "5 seconds",
      ttl: Duration.seconds(15),
      options: { a: "b" }
    })
    assert.strictEqual(Duration.toMillis(custom.heartbeat), 5_000)
    assert.strictEqual(Duration.toMillis(custom.ttl), 15_000)
    assert.deepStrictEqual(custom.options, { a: "b" })
  })
})

describe("Discovery.changes", () => {
  it.effect("turns snapshots into added/removed events; the first adds the initial members", () =>
    Effect.gen(function* () {
      const snapshots = Stream.make(
        list("a:1", "b:2"),
        list("b:2", "a:1"),
        list("a:1", "c:3"),
        list("a:1", "c:3", "c:3"),
        list()
      )
      const events = yield* Stream.runCollect(Discovery.changes(snapshots))
      assert.deepStrictEqual(Chunk.toReadonlyArray(events).map(show), [
        { added: ["a:1", "b:2"], removed: [] },
        { added: ["c:3"], removed: ["b:2"] },
        { added: [], removed: ["a:1", "c:3"] }
      ])
    })
  )

  it.effect("an empty first snapshot gives no event", () =>
    Effect.gen(function* () {
      const events = yield* Stream.runCollect(Discovery.changes(Stream.make(list(), list(), list("a:1"))))
      assert.deepStrictEqual(Chunk.toReadonlyArray(events).map(show), [{ added: ["a:1"], removed: [] }])
    })
  )

  it.effect("errors pass through", () =>
    Effect.gen(function* () {
      const failing = Stream.concat(Stream.make(list("a:1")), Stream.fail("boom" as const))
      const error = yield* Effect.flip(Stream.runCollect(Discovery.changes(failing)))
      assert.strictEqual(error, "boom")
    })
  )
})

describe("Discovery.distinctEntries", () => {
  it.effect("drops repeats of the same set, in any order", () =>
    Effect.gen(function* () {
      const out = yield* Stream.runCollect(
        Discovery.distinctEntries(
          Stream.make(list("a:1", "b:2"), list("b:2", "a:1"), list("a:1"), list("a:1"))
        )
      )
      assert.deepStrictEqual(Chunk.toReadonlyArray(out).map(Entries.format), [["a:1", "b:2"], ["a:1"]])
    })
  )
})
