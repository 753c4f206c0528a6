import { assert, describe, it } from "@effect/vitest"
import { Console, Duration, Effect, Either, Logger, LogLevel, Option } from "effect"
import * as Common from "../../src/Cli/Common.js"

const TOKEN = "0123456789abcdef0123456789abcdef"

describe("Common.duration (serve's text flags)", () => {
  const rule = { default: Duration.seconds(60), min: Duration.seconds(1) }

  it("takes the default when the flag is absent", () => {
    assert.deepStrictEqual(
      Common.duration("join", "heartbeat", Option.none(), rule),
      Either.right(Duration.seconds(60))
    )
  })

  it("parses Go durations", () => {
    const parsed = Common.duration("join", "heartbeat", Option.some("1m30s"), rule)
    assert.strictEqual(Duration.toMillis(Either.getOrThrow(parsed)), 90_000)
  })

  it("names the flag and the bound when the value is too small", () => {
    const error = Either.flip(Common.duration("join", "heartbeat", Option.some("500ms"), rule))
    assert.strictEqual(Either.getOrThrow(error).message, "--heartbeat: must be at least 1s, got 500ms")
  })

  it("supports an exclusive lower bound", () => {
    const timeout = { default: Duration.seconds(10), min: Duration.zero, exclusive: true }
    assert.isTrue(Either.isLeft(Common.duration("list", "timeout", Option.some("0s"), timeout)))
    assert.isTrue(Either.isRight(Common.duration("list", "timeout", Option.some("1ms"), timeout)))
  })

  it("names the flag and the bad text for a malformed duration", () => {
    const error = Either.getOrThrow(Either.flip(Common.duration("join", "ttl", Option.some("ten"), rule)))
    assert.include(error.message, "--ttl: invalid duration")
    assert.include(error.message, '"ten"')
    assert.strictEqual(error.command, "join")
  })
})

describe("Common output", () => {
  it("strips ANSI colour codes", () => {
    assert.strictEqual(
      Common.stripAnsi("\u001b[0;1mUSAGE\u001b[0m and \u001b[31mred\u001b[39m"),
      "USAGE and red"
    )
  })

  it("uses colour only on a terminal without NO_COLOR", () => {
    // Under vitest stdout is not a terminal, so colour is always off here.
    assert.isFalse(Common.useColour({ isTTY: false }, {}))
    assert.isFalse(Common.useColour({ isTTY: true }, { NO_COLOR: "1" }))
  })

  it.effect("the console drops colours where they are off and reformats parse errors", () =>
    Effect.gen(function* () {
      const out: Array<string> = []
      const err: Array<string> = []
      const console = Common.makeConsole(
        yield* Effect.console,
        { write: (t) => void out.push(t), colour: false },
        { write: (t) => void err.push(t), colour: false },
        (text) => Common.formatError("join", text, true)
      )
      yield* Console.log("\u001b[1mhelp\u001b[0m\n").pipe(Effect.withConsole(console))
      yield* Console.error(`\u001b[1mbad ${TOKEN}\u001b[0m\n\n`).pipe(Effect.withConsole(console))
      assert.deepStrictEqual(out, ["help\n"])
      assert.strictEqual(err.join(""), "swarm join: bad 0123…\nRun 'swarm join --help' for usage.\n")
    })
  )

  it("formats errors with the command and never prints a token in full", () => {
    const text = Common.formatError("list", `cannot reach token://${TOKEN}`, false)
    assert.notInclude(text, TOKEN)
    assert.match(text, /^swarm list: cannot reach token:\/\/0123…$/)
  })

  it.effect("the logger writes one redacted line per message", () =>
    Effect.gen(function* () {
      const lines: Array<string> = []
      const logger = Common.makeLogger((line) => void lines.push(line))
      yield* Effect.logWarning(`joining token://${TOKEN}`).pipe(
        Effect.provide(Logger.replace(Logger.defaultLogger, logger))
      )
      assert.strictEqual(lines.length, 1)
      assert.match(lines[0]!, /^\d{4}-\d\d-\d\dT[0-9:.]+Z WARN joining token:\/\/0123…\n$/)
    })
  )

  it("reads SWARM_LOG_LEVEL, defaulting to info", () => {
    assert.strictEqual(Common.logLevelFrom("debug"), LogLevel.Debug)
    assert.strictEqual(Common.logLevelFrom("WARN"), LogLevel.Warning)
    assert.strictEqual(Common.logLevelFrom(undefined), LogLevel.Info)
    assert.strictEqual(Common.logLevelFrom("loud"), LogLevel.Info)
  })
})
