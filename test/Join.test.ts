import { assert, describe, it } from "@effect/vitest"
import {
  Clock,
  Context,
  Duration,
  Effect,
  Either,
  Exit,
  Fiber,
  Layer,
  Logger,
  Option,
  Queue,
  Random,
  Ref,
  Scope,
  Stream,
  TestClock
} from "effect"
import * as Discovery from "../src/Discovery.js"
import { Forbidden, Unavailable } from "../src/DiscoveryError.js"
import * as Entries from "../src/Entries.js"
import * as Entry from "../src/Entry.js"
import * as Join from "../src/Join.js"
import * as KvStore from "../src/KvStore.js"
import * as MemoryKvStore from "../src/KvStore/Memory.js"

const HEARTBEAT = Duration.seconds(10)
const me = Entry.make("10.0.0.7", 2375)

interface Call {
  readonly op: "register" | "deregister"
  readonly entry: string
  readonly at: number
}

/**
 * A `Discovery` test double that records every call with its virtual time.
 * `fail(n)` makes the n-th register attempt (1-based) fail.
 */
const makeDouble = (
  behaviour: {
    readonly fail?: (attempt: number) => "ok" | "error" | "defect" | "forbidden"
    readonly options?: Discovery.ResolvedOptions
  } = {}
) =>
  Effect.gen(function* () {
    const calls = yield* Ref.make<ReadonlyArray<Call>>([])
    const registered = yield* Queue.unbounded<number>()
    const record = (op: Call["op"], entry: Entry.Entry) =>
      Effect.flatMap(Clock.currentTimeMillis, (at) =>
        Ref.updateAndGet(calls, (all) => [...all, { op, entry: Entry.format(entry), at }])
      )
    const shape: Discovery.DiscoveryShape = {
      register: (entry) =>
        Effect.gen(function* () {
          const all = yield* record("register", entry)
          const attempt = all.filter((c) => c.op === "register").length
          yield* Queue.offer(registered, attempt)
          const outcome = behaviour.fail?.(attempt) ?? "ok"
          if (outcome === "error") {
            return yield* new Unavailable({
              backend: "test",
              target: "token://0123456789abcdef0123456789abcdef",
              reason: "Transport",
              detail: "connection refused"
            })
          }
          if (outcome === "defect") return yield* Effect.die(new Error("backend bug"))
          if (outcome === "forbidden") {
            return yield* new Forbidden({
              backend: "test",
              target: "token://0123456789abcdef0123456789abcdef",
              operation: "registering 10.0.0.7:2375",
              status: 403,
              detail: "this is a read-only token"
            })
          }
        }),
      deregister: (entry) => Effect.asVoid(record("deregister", entry)),
      watch: Stream.never,
      ...(behaviour.options === undefined ? {} : { options: behaviour.options })
    }
    const registers = Effect.map(Ref.get(calls), (all) => all.filter((c) => c.op === "register"))
    const deregisters = Effect.map(Ref.get(calls), (all) => all.filter((c) => c.op === "deregister"))
    return { layer: Layer.succeed(Discovery.Discovery, shape), registers, deregisters, registered }
  })

/** Lets the forked join fiber run what became runnable (no time passes). */
const settle = Effect.forEach(Array.from({ length: 30 }), () => Effect.yieldNow(), { discard: true })

const capture = (sink: Array<string>) =>
  Logger.replace(
    Logger.defaultLogger,
    Logger.make(({ logLevel, message }) => {
      sink.push(`${logLevel.label} ${Array.isArray(message) ? message.join(" ") : String(message)}`)
    })
  )

describe("join", () => {
  it.effect("registers at once, then once per heartbeat", () =>
    Effect.gen(function* () {
      const double = yield* makeDouble()
      const fiber = yield* Effect.fork(
        Join.join(me, { heartbeat: HEARTBEAT }).pipe(Effect.provide(double.layer))
      )
      assert.strictEqual(yield* Queue.take(double.registered), 1)
      const N = 6
      for (let i = 1; i <= N; i++) {
        yield* TestClock.adjust(Duration.subtract(HEARTBEAT, Duration.millis(1)))
        yield* settle
        assert.strictEqual((yield* double.registers).length, i, `early registration before heartbeat ${i}`)
        yield* TestClock.adjust(Duration.millis(1))
        assert.strictEqual(yield* Queue.take(double.registered), i + 1)
      }
      const registers = yield* double.registers
      assert.strictEqual(registers.length, N + 1)
      assert.deepStrictEqual(
        registers.map((c) => c.at),
        Array.from({ length: N + 1 }, (_, i) => i * Duration.toMillis(HEARTBEAT))
      )
      assert.isTrue(registers.every((c) => c.entry === "10.0.0.7:2375"))
      yield* Fiber.interrupt(fiber)
    })
  )

  it.effect(
    "the first registration waits a random delay in [0, delay): the same for a seed, spread over seeds",
    () =>
      Effect.gen(function* () {
        const delayMs = 30_000
        /** Starts join with `seed`; `until` moves the clock, then the registrations so far, as ms from the start. */
        const run = (seed: number) =>
          Effect.gen(function* () {
            const double = yield* makeDouble()
            const start = yield* Clock.currentTimeMillis
            const fiber = yield* Effect.fork(
              Join.join(me, { heartbeat: HEARTBEAT, delay: Duration.millis(delayMs) }).pipe(
                Effect.provide(double.layer),
                Effect.withRandom(Random.make(seed))
              )
            )
            yield* settle
            const until = (ms: number) =>
              Effect.gen(function* () {
                yield* TestClock.adjust(Duration.millis(ms))
                yield* settle
                return (yield* double.registers).map((c) => c.at - start)
              })
            return { fiber, until }
          })
        const drawn: Array<number> = []
        for (let seed = 1; seed <= 12; seed++) {
          // Where the first registration falls, read off the clock: nothing is assumed about how it is drawn.
          const probe = yield* run(seed)
          const [first] = yield* probe.until(delayMs - 1)
          yield* Fiber.interrupt(probe.fiber)
          assert.isDefined(first, `seed ${seed}: no registration within the delay`)
          assert.isAtLeast(first!, 0)
          assert.isBelow(first!, delayMs)
          drawn.push(first!)
          // The same seed again: not a millisecond earlier, then heartbeats count from it.
          const again = yield* run(seed)
          if (first! > 0) assert.deepStrictEqual(yield* again.until(first! - 1), [], `seed ${seed}: early`)
          assert.deepStrictEqual(yield* again.until(first! > 0 ? 1 : 0), [first])
          assert.deepStrictEqual(yield* again.until(Duration.toMillis(HEARTBEAT)), [
            first,
            first! + Duration.toMillis(HEARTBEAT)
          ])
          yield* Fiber.interrupt(again.fiber)
        }
        // Random, not one fixed delay: twelve seeds land on at least ten different delays across the range.
        assert.isAtLeast(new Set(drawn).size, 10)
        assert.isBelow(Math.min(...drawn), delayMs / 4)
        assert.isAbove(Math.max(...drawn), (delayMs * 3) / 4)
      })
  )

  it.effect("randomDelay stays within [0, delay) over many seeds, and is 0 without a delay", () =>
    Effect.gen(function* () {
      const seen = new Set<number>()
      for (let seed = 0; seed < 500; seed++) {
        const d = yield* Join.randomDelay(Duration.millis(50)).pipe(Effect.withRandom(Random.make(seed)))
        const ms = Duration.toMillis(d)
        assert.isTrue(Number.isInteger(ms) && ms >= 0 && ms < 50, `${ms}`)
        seen.add(ms)
      }
      // Uniform enough to reach both ends of the interval.
      assert.isTrue(seen.has(0) && seen.has(49), [...seen].sort((a, b) => a - b).join(","))
      assert.strictEqual(Duration.toMillis(yield* Join.randomDelay(Duration.zero)), 0)
    })
  )

  it.effect("a failing backend is logged (without the token) and the loop carries on", () => {
    const logs: Array<string> = []
    return Effect.gen(function* () {
      const double = yield* makeDouble({ fail: (n) => (n <= 2 ? "error" : n === 3 ? "defect" : "ok") })
      const fiber = yield* Effect.fork(
        Join.join(me, { heartbeat: HEARTBEAT }).pipe(Effect.provide(double.layer))
      )
      yield* Queue.take(double.registered)
      for (let i = 2; i <= 5; i++) {
        yield* TestClock.adjust(HEARTBEAT)
        assert.strictEqual(yield* Queue.take(double.registered), i)
      }
      yield* settle
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)), "join ended")
      const warnings = logs.filter((l) => l.startsWith("WARN"))
      assert.strictEqual(warnings.length, 2)
      assert.include(warnings[0]!, "retrying at the next heartbeat")
      assert.include(warnings[0]!, "connection refused")
      assert.isTrue(logs.some((l) => l.startsWith("ERROR") && l.includes("crashed")))
      for (const line of logs) assert.notInclude(line, "0123456789abcdef0123456789abcdef")
      yield* Fiber.interrupt(fiber)
    }).pipe(Effect.provide(capture(logs)))
  })

  it.effect("a backend that cannot register fails join at once", () =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(
        Join.join(me, { heartbeat: HEARTBEAT }).pipe(Effect.provide(Discovery.layer("nodes://10.0.0.1:2375")))
      )
      assert.isTrue(Exit.isFailure(exit))
      const error = yield* Effect.flip(
        Join.join(me, { heartbeat: HEARTBEAT }).pipe(Effect.provide(Discovery.layer("nodes://10.0.0.1:2375")))
      )
      assert.strictEqual(error._tag, "NotImplemented")
      assert.include(error.message, "cannot register")
    })
  )

  it.effect("a read-only backend fails join before the random delay", () =>
    Effect.gen(function* () {
      // No clock adjustment: with a one-hour delay this would hang if join waited first.
      const error = yield* Effect.flip(
        Join.join(me, { heartbeat: HEARTBEAT, delay: Duration.hours(1) }).pipe(
          Effect.provide(Discovery.layer("nodes://10.0.0.1:2375")),
          Effect.withRandom(Random.make(7))
        )
      )
      assert.strictEqual(error._tag, "NotImplemented")
      assert.include(error.message, "nodes:// is a static list")
    })
  )

  it.effect("interrupting the fiber deregisters", () =>
    Effect.gen(function* () {
      const double = yield* makeDouble()
      const fiber = yield* Effect.fork(
        Join.join(me, { heartbeat: HEARTBEAT }).pipe(Effect.provide(double.layer))
      )
      yield* Queue.take(double.registered)
      yield* TestClock.adjust(HEARTBEAT)
      yield* Queue.take(double.registered)
      assert.strictEqual((yield* double.deregisters).length, 0)
      yield* Fiber.interrupt(fiber)
      const leaves = yield* double.deregisters
      assert.deepStrictEqual(
        leaves.map((c) => c.entry),
        ["10.0.0.7:2375"]
      )
      // Nothing registers after leaving.
      yield* TestClock.adjust(Duration.times(HEARTBEAT, 5))
      assert.strictEqual((yield* double.registers).length, 2)
    })
  )

  it.effect("a deregister that never answers does not block leaving past the leave timeout", () =>
    Effect.gen(function* () {
      const registered = yield* Queue.unbounded<void>()
      const hung = Layer.succeed(Discovery.Discovery, {
        register: () => Queue.offer(registered, undefined),
        deregister: () => Effect.never,
        watch: Stream.never
      })
      const fiber = yield* Effect.fork(Join.join(me, { heartbeat: HEARTBEAT }).pipe(Effect.provide(hung)))
      yield* Queue.take(registered)
      const interrupting = yield* Effect.fork(Fiber.interrupt(fiber))
      yield* TestClock.adjust(Duration.subtract(Join.LEAVE_TIMEOUT, Duration.millis(1)))
      assert.isTrue(Option.isNone(yield* Fiber.poll(interrupting)), "still leaving before the timeout")
      yield* TestClock.adjust(Duration.millis(1))
      const exit = yield* Fiber.await(interrupting)
      assert.isTrue(Exit.isSuccess(exit))
    })
  )

  it.effect("closing the scope deregisters", () =>
    Effect.gen(function* () {
      const double = yield* makeDouble()
      const scope = yield* Scope.make()
      yield* Effect.forkIn(Join.join(me, { heartbeat: HEARTBEAT }).pipe(Effect.provide(double.layer)), scope)
      yield* Queue.take(double.registered)
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual((yield* double.deregisters).length, 1)
    })
  )

  it.effect("interrupting during the delay leaves without deregistering (nothing was registered)", () =>
    Effect.gen(function* () {
      const double = yield* makeDouble()
      const fiber = yield* Effect.fork(
        Join.join(me, { heartbeat: HEARTBEAT, delay: Duration.minutes(1) }).pipe(
          Effect.provide(double.layer),
          Effect.withRandom(Random.make("fixed"))
        )
      )
      yield* settle
      yield* Fiber.interrupt(fiber)
      assert.strictEqual((yield* double.registers).length, 0)
      assert.strictEqual((yield* double.deregisters).length, 0)
    })
  )

  it.effect("without a heartbeat of its own, join uses the layer's", () =>
    Effect.gen(function* () {
      const options = Either.getOrThrow(
        Discovery.resolveOptions({ heartbeat: "7 seconds", ttl: "21 seconds" })
      )
      const double = yield* makeDouble({ options })
      const fiber = yield* Effect.fork(Join.join(me).pipe(Effect.provide(double.layer)))
      yield* settle
      yield* TestClock.adjust(Duration.seconds(21))
      yield* settle
      // At 0, 7, 14 and 21 s: the layer's 7 s, not the 60 s default.
      assert.deepStrictEqual(
        (yield* double.registers).map((c) => c.at),
        [0, 7_000, 14_000, 21_000]
      )
      yield* Fiber.interrupt(fiber)
    })
  )

  it.effect("a Forbidden registration (read-only token) fails join at once instead of retrying", () =>
    Effect.gen(function* () {
      const double = yield* makeDouble({ fail: () => "forbidden" })
      const exit = yield* Join.join(me, { heartbeat: HEARTBEAT }).pipe(
        Effect.provide(double.layer),
        Effect.exit
      )
      assert.isTrue(Exit.isFailure(exit))
      const error = yield* Effect.flip(
        Join.join(me, { heartbeat: HEARTBEAT }).pipe(Effect.provide(double.layer))
      )
      assert.strictEqual(error._tag, "Forbidden")
      assert.include(error.message, "read-only token")
      assert.strictEqual((yield* double.registers).length, 2)
    })
  )

  it.effect("with retryForbidden a refusal is logged and retried at the next heartbeat", () =>
    Effect.gen(function* () {
      const logs: Array<string> = []
      const double = yield* makeDouble({ fail: (attempt) => (attempt < 3 ? "forbidden" : "ok") })
      const fiber = yield* Effect.fork(
        Join.join(me, { heartbeat: HEARTBEAT, retryForbidden: true }).pipe(
          Effect.provide(double.layer),
          Effect.provide(capture(logs))
        )
      )
      assert.strictEqual(yield* Queue.take(double.registered), 1)
      yield* TestClock.adjust(HEARTBEAT)
      assert.strictEqual(yield* Queue.take(double.registered), 2)
      yield* TestClock.adjust(HEARTBEAT)
      assert.strictEqual(yield* Queue.take(double.registered), 3)
      assert.isNull(fiber.unsafePoll(), "join still runs after two refusals")
      const refusals = logs.filter((line) => line.includes("retrying at the next heartbeat"))
      assert.strictEqual(refusals.length, 2, logs.join("\n"))
      assert.include(refusals[0]!, "read-only token")
      yield* Fiber.interrupt(fiber)
    })
  )

  it.effect("an invalid entry fails join before any registration", () =>
    Effect.gen(function* () {
      const double = yield* makeDouble()
      const error = yield* Effect.flip(
        Join.join(Entry.make("", 0), { heartbeat: HEARTBEAT, delay: "1 minute" }).pipe(
          Effect.provide(double.layer)
        )
      )
      assert.strictEqual(error._tag, "InvalidEntry")
      assert.strictEqual((yield* double.registers).length, 0)
    })
  )

  it.scoped(
    "over memory://, a layer with a 10s heartbeat and 30s ttl keeps a joined node listed past the ttl",
    () =>
      Effect.gen(function* () {
        // The case: join used to ignore the layer's heartbeat, so the node dropped out at 31 s.
        const layer = Discovery.layerKvStore({ heartbeat: "10 seconds", ttl: "30 seconds" }).pipe(
          Layer.provide(Layer.succeed(KvStore.KvStore, MemoryKvStore.unsafeMake()))
        )
        const watcher = yield* Layer.build(layer).pipe(Effect.map(Context.get(Discovery.Discovery)))
        const fiber = yield* Effect.fork(Join.join(me).pipe(Effect.provide(layer)))
        yield* settle
        for (let second = 1; second <= 90; second++) {
          yield* TestClock.adjust(Duration.seconds(1))
          const head = Option.getOrThrow(yield* Stream.runHead(watcher.watch))
          assert.deepStrictEqual(Entries.format(head), ["10.0.0.7:2375"], `at ${second}s`)
        }
        yield* Fiber.interrupt(fiber)
      })
  )

  it.scoped("over memory://, a watcher sees the node join, and leave on interruption", () =>
    Effect.gen(function* () {
      // One store shared on purpose by the watcher and the joiner.
      const layer = Discovery.layerKvStore({ ttl: Duration.seconds(30) }).pipe(
        Layer.provide(Layer.succeed(KvStore.KvStore, MemoryKvStore.unsafeMake()))
      )
      const watcher = yield* Layer.build(layer).pipe(Effect.map(Context.get(Discovery.Discovery)))
      const out = yield* Queue.unbounded<ReadonlyArray<string>>()
      yield* Effect.forkScoped(Stream.runForEach(watcher.watch, (e) => Queue.offer(out, Entries.format(e))))
      assert.deepStrictEqual(yield* Queue.take(out), [])
      const fiber = yield* Effect.fork(Join.join(me, { heartbeat: HEARTBEAT }).pipe(Effect.provide(layer)))
      assert.deepStrictEqual(yield* Queue.take(out), ["10.0.0.7:2375"])
      // Heartbeats keep it alive well past the TTL.
      for (let i = 0; i < 10; i++) yield* TestClock.adjust(HEARTBEAT)
      yield* settle
      assert.strictEqual(yield* Queue.size(out), 0)
      yield* Fiber.interrupt(fiber)
      assert.deepStrictEqual(yield* Queue.take(out), [])
    })
  )
})
