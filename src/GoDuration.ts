/**
 * Durations in Go's `time.ParseDuration` syntax (`90s`, `1m30s`, `500ms`, `1h`),
 * the syntax Swarm classic's flags use.
 *
 * Pure model: no I/O.
 */
import { Data, Duration, Either, ParseResult, Schema } from "effect"

export class InvalidDuration extends Data.TaggedError("InvalidDuration")<{
  readonly input: string
  readonly reason: string
}> {
  override get message(): string {
    return `invalid duration ${JSON.stringify(this.input)}: ${this.reason}; use Go syntax such as 500ms, 30s, 1m30s or 1h`
  }
}

const UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000
}

const TOKEN = /([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)?/y

/** Parses a Go duration into milliseconds (may be negative or fractional). */
export const parseMillis = (input: string): Either.Either<number, InvalidDuration> => {
  const fail = (reason: string) => Either.left(new InvalidDuration({ input, reason }))
  let text = input.trim()
  if (text === "") return fail("empty")
  let sign = 1
  if (text[0] === "-" || text[0] === "+") {
    sign = text[0] === "-" ? -1 : 1
    text = text.slice(1)
  }
  if (text === "0") return Either.right(0)
  let total = 0
  let pos = 0
  while (pos < text.length) {
    TOKEN.lastIndex = pos
    const match = TOKEN.exec(text)
    const number = match?.[1] ?? ""
    const unit = match?.[2]
    if (!match || number === "" || number === ".")
      return fail(`expected a number at ${JSON.stringify(text.slice(pos))}`)
    if (unit === undefined) return fail(`missing unit after ${number} (one of ns, us, ms, s, m, h)`)
    total += Number(number) * UNITS[unit]!
    pos += match[0].length
  }
  if (!Number.isFinite(total) || total > Number.MAX_SAFE_INTEGER) return fail("too large")
  return Either.right(sign * total)
}

/** Parses a Go duration into an Effect `Duration`; negative durations are rejected. */
export const parse = (input: string): Either.Either<Duration.Duration, InvalidDuration> =>
  Either.flatMap(parseMillis(input), (millis) =>
    millis < 0
      ? Either.left(new InvalidDuration({ input, reason: "must not be negative" }))
      : Either.right(Duration.millis(millis))
  )

/** Prints a duration the way Go's `Duration.String` does: `1m30s`, `500ms`, `0s`. */
export const format = (duration: Duration.DurationInput): string => {
  const millis = Duration.toMillis(Duration.decode(duration))
  if (millis === 0) return "0s"
  if (millis < 0.001) return `${Math.round(millis * 1e6)}ns`
  if (millis < 1) return `${+(millis * 1000).toFixed(3)}µs`
  if (millis < 1000) return `${+millis.toFixed(6)}ms`
  const hours = Math.floor(millis / 3_600_000)
  const minutes = Math.floor((millis % 3_600_000) / 60_000)
  const seconds = +((millis % 60_000) / 1000).toFixed(9)
  return `${hours > 0 ? `${hours}h` : ""}${hours > 0 || minutes > 0 ? `${minutes}m` : ""}${seconds}s`
}

/**
 * A `Schema<Duration, string>` over Go syntax: decodes with `parse` (so no
 * negative durations), encodes with `format`.
 */
export const FromString: Schema.Schema<Duration.Duration, string> = Schema.transformOrFail(
  Schema.String,
  Schema.DurationFromSelf,
  {
    strict: true,
    decode: (input, _, ast) =>
      Either.match(parse(input), {
        onLeft: (error) => ParseResult.fail(new ParseResult.Type(ast, input, error.message)),
        onRight: ParseResult.succeed
      }),
    encode: (duration) => ParseResult.succeed(format(duration))
  }
).annotations({ identifier: "GoDuration" })
