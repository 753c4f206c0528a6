/**
 * Error texts: a schema's own message instead of @effect/cli's decode tree, and @effect/cli's words for a
 * missing value (found by matching its text) in ours, naming the flag or env var (see Compat.ts).
 */
import { ParseResult, type Schema } from "effect"
import type { CommandDoc } from "./HelpModel.js"

/**
 * `withSchema` whose error reads `<label>: <the schema's own message>`, not
 * the decode tree @effect/cli prints by default.
 */
export const schemaFor = <A, I>(label: string, schema: Schema.Schema<A, I>): Schema.Schema<A, I> =>
  schema.annotations({
    message: (issue) => ({
      message: label === "" ? leafMessage(issue) : `${label}: ${leafMessage(issue)}`,
      override: true
    })
  })

/** The innermost message of a parse issue: what the failing check itself said. */
const leafMessage = (issue: ParseResult.ParseIssue): string => {
  switch (issue._tag) {
    case "Type":
      return issue.message ?? `invalid value ${JSON.stringify(issue.actual)}`
    case "Transformation":
    case "Refinement":
    case "Pointer":
      return leafMessage(issue.issue)
    case "Composite":
      return leafMessage(Array.isArray(issue.issues) ? issue.issues[0] : issue.issues)
    default:
      return issue.message ?? "invalid value"
  }
}

/**
 * @effect/cli 0.77's words for a missing value, in ours: it reports a missing option as
 * "Expected to find option: '--advertise'" without its env var, and a missing argument whose
 * env var is unset as "(Missing data at SWARM_DISCOVERY: ...)".
 */
export const explainMissing = (text: string, doc: CommandDoc | undefined): string => {
  const env = /^\(Missing data at ([A-Za-z0-9_]+): .*\)$/.exec(text)?.[1]
  const flag = /^Expected to find option: '(-[^']+)'/.exec(text)?.[1]
  const arg = doc?.args.find((a) => env !== undefined && a.env === env)
  if (arg !== undefined) return `missing ${arg.name}: give it as an argument or set ${env}`
  const option = doc?.options.find(
    (o) => (env !== undefined && o.env === env) || o.names.includes(flag ?? "")
  )
  if (option === undefined) return text
  const term = `${option.names[0]}${option.value === undefined ? "" : ` ${option.value}`}`
  return `missing ${term}${option.env === undefined ? "" : ` (or set ${option.env})`}`
}

/** What the command line held, to tell a flag's value from its env var's. */
export interface Given {
  /** Option names as typed (`--advertise`, `--addr`). */
  readonly options: ReadonlySet<string>
  readonly positionals: number
}

/**
 * An option's or argument's error is labelled with its flag (`--advertise: ...`) or name
 * (`<discovery>: ...`), since @effect/cli reports a value from `withFallbackConfig` as if it were
 * typed. Name the env var when the value came from it; drop an argument's label when it was typed.
 */
export const nameSource = (text: string, doc: CommandDoc | undefined, given: Given): string => {
  for (const arg of doc?.args ?? []) {
    if (!text.startsWith(`${arg.name}: `)) continue
    const rest = text.slice(arg.name.length + 2)
    return given.positionals === 0 && arg.env !== undefined ? `${arg.env}: ${rest}` : rest
  }
  for (const option of doc?.options ?? []) {
    const label = option.names[0]!
    if (!text.startsWith(`${label}: `) || option.env === undefined) continue
    const typed = option.names.some((name) => given.options.has(name))
    return typed ? text : `${option.env}: ${text.slice(label.length + 2)}`
  }
  return text
}

/** Every rewrite of an @effect/cli error text, in order. */
export const explain = (text: string, doc: CommandDoc | undefined, given: Given): string =>
  nameSource(explainMissing(text, doc), doc, given)
