// The README's library examples, kept compiling and passing (imports point at src/ instead of the package name).
import { assert, it } from "@effect/vitest"
import { Effect, Fiber, Option, Stream, TestClock } from "effect"
import { Discovery, Entry, Join } from "../src/index.js"

it.scoped("a node that stops heart-beating expires after its TTL", () =>
  Effect.gen(function* () {
    const discovery = yield* Effect.provide(
      Discovery.Discovery,
      Discovery.layer("memory://readme", { ttl: "30 seconds" })
    )
    const members = Stream.runHead(discovery.watch).pipe(Effect.map(Option.getOrThrow))
    yield* discovery.register(Entry.make("10.0.0.1", 2375))
    assert.strictEqual((yield* members).length, 1)
    yield* TestClock.adjust("30 seconds")
    assert.strictEqual((yield* members).length, 0)
  })
)

it.scoped("the README's join-and-watch program sees its own node", () =>
  Effect.gen(function* () {
    const me = Entry.make("10.0.0.1", 2375)
    const program = Effect.gen(function* () {
      const discovery = yield* Discovery.Discovery
      yield* Effect.forkScoped(Join.join(me, { heartbeat: "10 seconds" }))
      return yield* Discovery.changes(discovery.watch).pipe(Stream.take(1), Stream.runCollect)
    })
    const fiber = yield* program.pipe(
      Effect.scoped,
      Effect.provide(Discovery.layer("memory://readme-join", { heartbeat: "10 seconds", ttl: "30 seconds" })),
      Effect.fork
    )
    yield* TestClock.adjust("1 second")
    const [first] = yield* Fiber.join(fiber)
    assert.deepStrictEqual(first?.added.map(Entry.format), [Entry.format(me)])
  })
)
