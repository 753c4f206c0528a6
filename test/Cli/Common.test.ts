import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger, LogLevel } from "effect"
import * as Common from "../../src/Cli/Common.js"

const TOKEN = "0123456789abcdef0123456789abcdef"

describe("Common output", () => {
  it("uses colour only on a terminal without NO_COLOR", () => {
    // Under vitest stdout is not a terminal, so colour is always off here.
    assert.isFalse(Common.useColour({ isTTY: false }, {}))
    assert.isFalse(Common.useColour({ isTTY: true }, { NO_COLOR: "1" }))
  })

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
