/**
 * Address ranges: `[from:to]` expands inclusively and may stand anywhere in a
 * pattern, including inside the port (`192.168.1.2:[2:20]375`). Several ranges
 * multiply. A bracket holding an IPv6 address (two or more colons) is left as is.
 *
 * Pure model: no I/O.
 */
import { Data, Either } from "effect"

export class InvalidRange extends Data.TaggedError("InvalidRange")<{
  readonly input: string
  readonly position: number
  readonly reason: string
}> {
  override get message(): string {
    return `invalid range in ${JSON.stringify(this.input)} at column ${this.position + 1}: ${this.reason}`
  }
}

/** The most entries one pattern may expand to, so a typo cannot allocate millions. */
export const MAX_EXPANSION = 65_536

type Part = string | { readonly from: number; readonly to: number }

const NUMBER = /^\s*[0-9]+\s*$/

const split = (input: string): Either.Either<ReadonlyArray<Part>, InvalidRange> => {
  const parts: Array<Part> = []
  let literal = ""
  let i = 0
  while (i < input.length) {
    const open = input.indexOf("[", i)
    if (open < 0) break
    const close = input.indexOf("]", open)
    if (close < 0) {
      return Either.left(new InvalidRange({ input, position: open, reason: "'[' is never closed" }))
    }
    const body = input.slice(open + 1, close)
    const colons = body.split(":").length - 1
    if (colons !== 1) {
      // An IPv6 literal such as [2001:db8::1]: keep it verbatim.
      literal += input.slice(i, close + 1)
      i = close + 1
      continue
    }
    const [fromText, toText] = body.split(":") as [string, string]
    if (!NUMBER.test(fromText) || !NUMBER.test(toText)) {
      return Either.left(
        new InvalidRange({ input, position: open, reason: `[${body}] is not a numeric range like [1:20]` })
      )
    }
    const from = Number(fromText)
    const to = Number(toText)
    if (from > to) {
      return Either.left(
        new InvalidRange({
          input,
          position: open,
          reason: `[${body}] is reversed: ${from} is greater than ${to}`
        })
      )
    }
    parts.push(literal + input.slice(i, open))
    literal = ""
    parts.push({ from, to })
    i = close + 1
  }
  parts.push(literal + input.slice(i))
  return Either.right(parts)
}

/** Expands every `[from:to]` range in `input`; a pattern without ranges expands to itself. */
export const expand = (
  input: string,
  max: number = MAX_EXPANSION
): Either.Either<Array<string>, InvalidRange> =>
  Either.flatMap(split(input), (parts) => {
    let total = 1
    for (const part of parts) if (typeof part !== "string") total *= part.to - part.from + 1
    if (total > max) {
      return Either.left(
        new InvalidRange({
          input,
          position: Math.max(0, input.indexOf("[")),
          reason: `expands to ${total} addresses, more than the limit of ${max}`
        })
      )
    }
    let out = [""]
    for (const part of parts) {
      if (typeof part === "string") {
        out = out.map((prefix) => prefix + part)
      } else {
        const next: Array<string> = []
        for (const prefix of out) for (let n = part.from; n <= part.to; n++) next.push(prefix + n)
        out = next
      }
    }
    return Either.right(out)
  })
