import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Fiber, Option, Stream, TestClock } from "effect"
import * as Join from "../../src/Cli/Join.js"
import * as Discovery from "../../src/Discovery.js"
import * as Entries from "../../src/Entries.js"

const withEnv = (env: Record<string, string>) =>
  Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))

const input = (over: Partial<Record<keyof Join.JoinInput, unknown>> = {}): Join.JoinInput => ({
  discovery: Option.some("memory://cli-join"),
  advertise: Option.some("10.0.0.1:2375"),
  heartbeat: Option.none(),
  ttl: Option.none(),
  delay: Option.none(),
  discoveryOpt: [],
  ...(over as Partial<Join.JoinInput>)
})

const reason = (over: Partial<Record<keyof Join.JoinInput, unknown>>, env: Record<string, string> = {}) =>
  Join.parse(input(over)).pipe(
    Effect.flip,
    Effect.map((e) => e.message),
    withEnv(env)
  )

describe("swarm join: flags", () => {
  it.effect("has Swarm classic's defaults", () =>
    Effect.gen(function* () {
      const config = yield* Join.parse(input()).pipe(withEnv({}))
      assert.strictEqual(Duration.toSeconds(config.heartbeat), 60)
      assert.strictEqual(Duration.toSeconds(config.ttl), 180)
      assert.strictEqual(Duration.toMillis(config.delay), 0)
      assert.deepStrictEqual(config.entry, { host: "10.0.0.1", port: 2375 })
    })
  )

  it.effect("takes SWARM_ADVERTISE and SWARM_DISCOVERY when the flags are absent", () =>
    Effect.gen(function* () {
      const config = yield* Join.parse(input({ advertise: Option.none(), discovery: Option.none() })).pipe(
        withEnv({ SWARM_ADVERTISE: "[2001:db8::1]:2376", SWARM_DISCOVERY: "memory://from-env" })
      )
      assert.deepStrictEqual(config.entry, { host: "2001:db8::1", port: 2376 })
      assert.strictEqual(config.url, "memory://from-env")
    })
  )

  it.effect("says what is wrong, one mistake at a time", () =>
    Effect.gen(function* () {
      assert.include(yield* reason({ advertise: Option.none() }), "missing --advertise")
      assert.include(yield* reason({ advertise: Option.some("10.0.0.1") }), "--advertise: invalid address")
      assert.include(yield* reason({ advertise: Option.some("10.0.0.1:0") }), "out of range")
      assert.strictEqual(
        yield* reason({ heartbeat: Option.some("999ms") }),
        "--heartbeat: must be at least 1s, got 999ms"
      )
      assert.include(
        yield* reason({ heartbeat: Option.some("60s"), ttl: Option.some("60s") }),
        "--ttl (1m0s) must be greater than --heartbeat (1m0s)"
      )
      assert.include(yield* reason({ delay: Option.some("-1s") }), "--delay: must be at least 0s, got -1s")
      assert.include(yield* reason({ ttl: Option.some("3x") }), "--ttl: invalid duration")
      assert.include(yield* reason({ discoveryOpt: ["nokey"] }), "--discovery-opt expects key=value")
      assert.include(
        yield* reason({ discovery: Option.some("bogus://x") }),
        "discovery service not supported"
      )
      assert.include(yield* reason({ discovery: Option.none() }), "missing discovery URL")
    })
  )
})

describe("swarm join: run", () => {
  it.scoped("registers at once, stays registered across heartbeats, and leaves on interrupt", () =>
    Effect.gen(function* () {
      const url = "memory://cli-join-run"
      const config = yield* Join.parse(
        input({ discovery: Option.some(url), heartbeat: Option.some("10s"), ttl: Option.some("25s") })
      ).pipe(withEnv({}))
      const observer = yield* Discovery.make(url)
      const members = () =>
        observer.watch.pipe(Stream.runHead, Effect.map(Option.getOrElse(() => Entries.empty)))

      const fiber = yield* Effect.fork(Join.run(config))
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
      const config = yield* Join.parse(input({ discovery: Option.some("nodes://10.0.0.2:2375") })).pipe(
        withEnv({})
      )
      const error = yield* Effect.flip(Join.run(config))
      assert.strictEqual(error._tag, "NotImplemented")
      assert.include(error.message, "cannot register")
    })
  )
})
