import { assert, describe, it } from "@effect/vitest"
import { Duration, Either, FastCheck as fc } from "effect"
import * as GoDuration from "../src/GoDuration.js"

const millis = (input: string) => Either.getOrThrow(GoDuration.parseMillis(input))
const failure = (input: string): GoDuration.InvalidDuration => {
  const result = GoDuration.parse(input)
  if (Either.isRight(result)) return assert.fail(`${input} parsed as ${Duration.format(result.right)}`)
  return result.left
}

describe("GoDuration.parse", () => {
  const good: ReadonlyArray<readonly [string, number]> = [
    ["90s", 90_000],
    ["1m30s", 90_000],
    ["500ms", 500],
    ["1h", 3_600_000],
    ["1.5h", 5_400_000],
    ["2h45m", 9_900_000],
    ["0", 0],
    ["0s", 0],
    [".5s", 500],
    ["1.s", 1000],
    ["+5s", 5000],
    ["1000us", 1],
    ["1000µs", 1],
    ["1000000ns", 1],
    [" 10s ", 10_000]
  ]
  for (const [input, expected] of good) {
    it(`${JSON.stringify(input)} is ${expected}ms`, () => {
      assert.strictEqual(millis(input), expected)
      assert.strictEqual(Duration.toMillis(Either.getOrThrow(GoDuration.parse(input))), expected)
    })
  }

  it("parseMillis keeps the sign; parse rejects negatives", () => {
    assert.strictEqual(millis("-1m"), -60_000)
    assert.match(failure("-1s").reason, /must not be negative/)
  })

  const bad: ReadonlyArray<readonly [string, RegExp]> = [
    ["", /empty/],
    ["   ", /empty/],
    ["10", /missing unit after 10/],
    ["1h30", /missing unit after 30/],
    ["s", /expected a number/],
    ["1x", /missing unit/],
    ["1 s", /missing unit/],
    ["1d", /missing unit/],
    ["one", /expected a number/],
    ["1e3s", /missing unit/],
    ["..5s", /expected a number/]
  ]
  for (const [input, reason] of bad) {
    it(`rejects ${JSON.stringify(input)}`, () => {
      const error = failure(input)
      assert.strictEqual(error._tag, "InvalidDuration")
      assert.match(error.reason, reason)
      assert.include(error.message, JSON.stringify(input))
      assert.include(error.message, "1m30s")
    })
  }
})

describe("GoDuration.format", () => {
  const cases: ReadonlyArray<readonly [Duration.DurationInput, string]> = [
    [Duration.zero, "0s"],
    [Duration.seconds(90), "1m30s"],
    [Duration.millis(500), "500ms"],
    [Duration.hours(1), "1h0m0s"],
    [Duration.minutes(90), "1h30m0s"],
    [Duration.seconds(1.5), "1.5s"],
    [Duration.seconds(60), "1m0s"],
    [Duration.micros(1500n), "1.5ms"],
    [Duration.micros(5n), "5µs"],
    [Duration.nanos(1n), "1ns"],
    [Duration.seconds(3), "3s"]
  ]
  for (const [input, expected] of cases) {
    it(`prints ${expected} like Go`, () => assert.strictEqual(GoDuration.format(input), expected))
  }

  it.prop(
    "parse(format(d)) gives d back for whole milliseconds",
    [fc.integer({ min: 0, max: 400_000_000 })],
    ([ms]) => {
      const printed = GoDuration.format(Duration.millis(ms))
      assert.strictEqual(millis(printed), ms, printed)
    }
  )
})
