/**
 * The `Console` @effect/cli runs with: it prints help, versions and completions with `Console.log`
 * (coloured, whatever the output) and its parse errors with `Console.error`. This one sends `log` to
 * our stdout sink without colours where they are off, and reformats each `error` (see Compat.ts).
 */
import { type Console, Effect } from "effect"
import type { Sink } from "../Common.js"

const ANSI = /\u001b\[[0-9;?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)/g

export const stripAnsi = (text: string): string => text.replace(ANSI, "")

const render = (args: ReadonlyArray<unknown>): string =>
  args.map((a) => (typeof a === "string" ? a : String(a))).join(" ")

/**
 * `log` goes to `out`, `error` to `err`, ANSI codes are dropped where colours are off, and
 * @effect/cli's parse errors (the only `Console.error` calls) are reformatted by `formatError`.
 */
export const make = (
  base: Console.Console,
  out: Sink,
  err: Sink,
  formatError: (text: string) => string
): Console.Console => ({
  ...base,
  log: (...args) =>
    Effect.sync(() => {
      // @effect/cli's rendered help and version end in a newline of their own.
      const text = render(args).replace(/\n+$/, "")
      out.write(`${out.colour ? text : stripAnsi(text)}\n`)
    }),
  error: (...args) =>
    Effect.sync(() => {
      const text = formatError(stripAnsi(render(args)).trim())
      err.write(`${text}\n`)
    })
})
