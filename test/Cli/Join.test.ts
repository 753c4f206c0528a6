import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Either, Fiber, HashMap, Option, Stream, TestClock } from "effect"
import * as Join from "../../src/Cli/Join.js"
import * as Discovery from "../../src/Discovery.js"
import * as Entries from "../../src/Entries.js"
import * as Entry from "../../src/Entry.js"
import { KvStore } from "../../src/KvStore.js"
import * as MemoryKvStore from "../../src/KvStore/Memory.js"

const input = (over: Partial<Join.JoinInput> = {}): Join.JoinInput => ({
  discovery: "memory://cli-join",
  advertise: Entry.make("10.0.0.1", 2375),
  heartbeat: Discovery.DEFAULT_HEARTBEAT,
  ttl: Discovery.DEFAULT_TTL,
  delay: Duration.zero,
  discoveryOpt: HashMap.empty(),
  ...over
})

// Each flag's own checks (durations, addresses, env fallbacks) are tested through the parser in Cli.test.ts.
describe("swarm join: flags", () => {
  it("passes the flags through as the join config", () => {
    const config = Either.getOrThrow(Join.parse(input({ discoveryOpt: HashMap.make(["kv.path", "a/b"]) })))
    assert.strictEqual(Duration.toSeconds(config.heartbeat), 60)
    assert.strictEqual(Duration.toSeconds(config.ttl), 180)
    assert.deepStrictEqual(config.entry, { host: "10.0.0.1", port: 2375 })
    assert.deepStrictEqual(config.options, { "kv.path": "a/b" })
  })

  it("refuses a ttl that is not above the heartbeat", () => {
    const error = Either.getOrThrow(
      Either.flip(Join.parse(input({ heartbeat: Duration.seconds(60), ttl: Duration.seconds(60) })))
    )
    assert.include(error.message, "--ttl (1m0s) must be greater than --heartbeat (1m0s)")
  })
})

describe("swarm join: run", () => {
  it.scoped("registers at once, stays registered across heartbeats, and leaves on interrupt", () =>
    Effect.gen(function* () {
      const url = "memory://cli-join-run"
      const config = Either.getOrThrow(
        Join.parse(input({ discovery: url, heartbeat: Duration.seconds(10), ttl: Duration.seconds(25) }))
      )
      const store = MemoryKvStore.unsafeMake()
      const observer = yield* Discovery.make(url).pipe(Effect.provideService(KvStore, store))
      const members = () =>
        observer.watch.pipe(Stream.runHead, Effect.map(Option.getOrElse(() => Entries.empty)))

      // memory:// backends share a store only on purpose: the one in the context.
      const fiber = yield* Effect.fork(Join.run(config).pipe(Effect.provideService(KvStore, store)))
      yield* TestClock.adjust(Duration.millis(1))
      assert.deepStrictEqual(Entries.format(yield* members()), ["10.0.0.1:2375"])

      // Heartbeats renew the 25s ttl, so the entry outlives it.
      yield* TestClock.adjust(Duration.seconds(40))
      assert.deepStrictEqual(Entries.format(yield* members()), ["10.0.0.1:2375"])

      yield* Fiber.interrupt(fiber)
      assert.deepStrictEqual(Entries.format(yield* members()), [])
    })
  )

  it.effect("fails at once on a backend that cannot register", () =>
    Effect.gen(function* () {
      const config = Either.getOrThrow(Join.parse(input({ discovery: "nodes://10.0.0.2:2375" })))
      const error = yield* Effect.flip(Join.run(config))
      assert.strictEqual(error._tag, "NotImplemented")
      assert.include(error.message, "cannot register")
    })
  )
})
