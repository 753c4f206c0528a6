import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Layer, Option, Stream, TestClock } from "effect"
import * as List from "../../src/Cli/List.js"
import * as Discovery from "../../src/Discovery.js"
import * as Entries from "../../src/Entries.js"
import * as Entry from "../../src/Entry.js"

const entries = Entries.fromIterable([Entry.make("10.0.0.2", 2375), Entry.make("2001:db8::1", 2375)])

/** A backend whose watch emits `stream`; register/deregister are never called by list. */
const fake = (watch: Stream.Stream<Entries.Entries>) =>
  Layer.succeed(Discovery.Discovery, { register: () => Effect.void, deregister: () => Effect.void, watch })

describe("swarm list", () => {
  it.effect("--timeout fires on virtual time when the backend never answers", () =>
    Effect.gen(function* () {
      const fiber = yield* Effect.fork(
        List.firstSnapshot(
          "token://0123456789abcdef0123456789abcdef",
          fake(Stream.never),
          Duration.seconds(10)
        )
      )
      yield* TestClock.adjust(Duration.seconds(9))
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)), "still waiting before the timeout")
      yield* TestClock.adjust(Duration.seconds(1))
      const error = yield* Effect.flip(Fiber.join(fiber))
      assert.strictEqual(error._tag, "Timeout")
      assert.include(error.message, "within 10s")
      assert.notInclude(error.message, "0123456789abcdef0123456789abcdef")
    })
  )

  it.effect("returns the first snapshot, not waiting for more", () =>
    Effect.gen(function* () {
      const first = yield* List.firstSnapshot(
        "x",
        fake(Stream.concat(Stream.make(entries), Stream.never)),
        Duration.seconds(10)
      )
      assert.deepStrictEqual(Entries.format(first), Entries.format(entries))
    })
  )

  it.effect("a backend that cannot be built fails with its own error, before any timeout", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        List.firstSnapshot("nodes://a:0", Discovery.layer("nodes://a:0"), Duration.seconds(10))
      )
      assert.strictEqual(error._tag, "InvalidEntry")
    })
  )

  it("renders text as one host:port per line and JSON as one array", () => {
    assert.deepStrictEqual(List.render(entries, "text"), Option.some("10.0.0.2:2375\n[2001:db8::1]:2375"))
    assert.deepStrictEqual(JSON.parse(Option.getOrThrow(List.render(entries, "json"))), [
      "10.0.0.2:2375",
      "[2001:db8::1]:2375"
    ])
    assert.deepStrictEqual(List.render(Entries.empty, "text"), Option.none())
    assert.deepStrictEqual(List.render(Entries.empty, "json"), Option.some("[]"))
  })
})
