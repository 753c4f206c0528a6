/**
 * What the help shows about a command, read from its @effect/cli definition:
 * each option's names, value, description, default, env var, and whether it
 * is required or repeatable. So a new option shows up in `--help` as soon as
 * it is defined, with its default and env var taken from the definition.
 *
 * Why read the definitions: @effect/cli 0.77 renders help with filler text
 * ("A user-defined piece of text.", "This setting is optional."), puts every
 * option of a command on one usage line (hundreds of columns), shows no env
 * var of `withFallbackConfig`, and marks an optional `keyValueMap` as required.
 * Its option and argument trees are not public API, so this module is the one
 * place that reads their instruction tags (`Single`, `WithDefault`, ...);
 * test/e2e/cli-help.test.ts (each option with its value, default and env var)
 * fails if a version changes them.
 */
import type { Args, CommandDescriptor as Descriptor, HelpDoc, Options } from "@effect/cli"
import type * as Span from "@effect/cli/HelpDoc/Span"
import { Duration, HashMap, Option } from "effect"
import * as GoDuration from "../../GoDuration.js"

export interface OptionDoc {
  /** `--advertise`, then its aliases (`--addr`). */
  readonly names: ReadonlyArray<string>
  /** The value's placeholder (`host:port`, `text|json`); undefined for a flag. */
  readonly value: string | undefined
  readonly description: string
  /** The default, printed the way a user would type it. */
  readonly default: string | undefined
  readonly env: string | undefined
  readonly required: boolean
  readonly repeatable: boolean
  /** An `Options.keyValueMap`: each value is `key=value`. */
  readonly keyValue: boolean
}

export interface ArgDoc {
  /** `<discovery>`. */
  readonly name: string
  readonly description: string
  readonly default: string | undefined
  readonly env: string | undefined
  readonly required: boolean
  readonly repeatable: boolean
}

export interface CommandDoc {
  readonly name: string
  readonly description: string
  readonly options: ReadonlyArray<OptionDoc>
  readonly args: ReadonlyArray<ArgDoc>
}

/** A node of @effect/cli's internal option, argument, descriptor or config trees. */
interface Node {
  readonly _tag: string
  readonly [field: string]: unknown
}

const node = (value: unknown): Node => value as Node

interface Context {
  readonly optional: boolean
  readonly default: string | undefined
  readonly env: string | undefined
  readonly repeatable: boolean
  readonly keyValue: boolean
}

const top: Context = {
  optional: false,
  default: undefined,
  env: undefined,
  repeatable: false,
  keyValue: false
}

/** `60s`, `180s`, `1h`, `500ms`: how Swarm classic's help writes durations (Go's `1m0s` reads worse). */
export const showDuration = (duration: Duration.Duration): string => {
  const millis = Duration.toMillis(duration)
  if (millis > 0 && millis % 3_600_000 === 0) return `${millis / 3_600_000}h`
  if (millis % 1000 === 0) return `${millis / 1000}s`
  return GoDuration.format(duration)
}

/** A default as the user would type it; nothing for "absent", `false` and empty collections. */
export const showDefault = (value: unknown): string | undefined => {
  if (Option.isOption(value)) return Option.isSome(value) ? showDefault(value.value) : undefined
  if (Duration.isDuration(value)) return showDuration(value)
  if (typeof value === "string") return value === "" ? undefined : value
  if (typeof value === "number" || typeof value === "bigint") return String(value)
  if (HashMap.isHashMap(value)) {
    return HashMap.size(value) === 0
      ? undefined
      : [...HashMap.toEntries(value)].map(([k, v]) => `${String(k)}=${String(v)}`).join(" ")
  }
  if (Array.isArray(value)) return value.length === 0 ? undefined : value.map(String).join(" ")
  return undefined
}

/** The env var a `Config` reads first (`Config.string("SWARM_ADVERTISE")` is `Nested` over a primitive). */
export const envOf = (config: unknown): string | undefined => {
  const c = node(config)
  switch (c?._tag) {
    case "Nested":
      return c.name as string
    case "MapOrFail":
    case "Redacted":
      return envOf(c.original)
    case "Described":
    case "Sequence":
      return envOf(c.config)
    case "Fallback":
      return envOf(c.first) ?? envOf(c.second)
    case "Lazy":
      return envOf((c.config as () => unknown)())
    case "ZipWith":
      return envOf(c.left) ?? envOf(c.right)
    default:
      return undefined
  }
}

const spanText = (span: Span.Span): string => {
  const s = node(span)
  if (typeof s.value === "string") return s.value
  if (s.value !== undefined) return spanText(s.value as Span.Span)
  if (s.left !== undefined) return spanText(s.left as Span.Span) + spanText(s.right as Span.Span)
  return ""
}

/** The plain text of a help doc; paragraphs become sentences of one text. */
export const docText = (doc: HelpDoc.HelpDoc): string => {
  switch (doc._tag) {
    case "Empty":
      return ""
    case "Header":
    case "Paragraph":
      return spanText(doc.value)
    case "Sequence":
      return [docText(doc.left), docText(doc.right)].filter((t) => t !== "").join(" ")
    case "Enumeration":
      return doc.elements.map(docText).join(" ")
    case "DescriptionList":
      return doc.definitions.map(([span, d]) => `${spanText(span)} ${docText(d)}`).join(" ")
  }
}

const placeholder = (single: Node): string | undefined => {
  const primitive = node(single.primitiveType)
  if (primitive._tag === "Bool") return undefined
  if (primitive._tag === "Choice" && Option.isNone(single.pseudoName as Option.Option<string>)) {
    return (primitive.alternatives as ReadonlyArray<readonly [string, unknown]>).map(([k]) => k).join("|")
  }
  return single.placeholder as string
}

const dashed = (name: string): string => (name.length === 1 ? `-${name}` : `--${name}`)

const walkOptions = (value: unknown, ctx: Context, out: Array<OptionDoc>): void => {
  const o = node(value)
  switch (o._tag) {
    case "Single": {
      const flag = node(o.primitiveType)._tag === "Bool"
      out.push({
        names: [o.fullName as string, ...(o.aliases as ReadonlyArray<string>).map(dashed)],
        value: placeholder(o),
        description: docText(o.description as HelpDoc.HelpDoc),
        default: flag ? undefined : ctx.default,
        env: ctx.env,
        required: !flag && !ctx.optional && !ctx.repeatable,
        repeatable: ctx.repeatable,
        keyValue: ctx.keyValue
      })
      return
    }
    case "Map":
      return walkOptions(o.options, ctx, out)
    case "Both":
    case "OrElse":
      walkOptions(o.left, ctx, out)
      return walkOptions(o.right, ctx, out)
    case "Variadic":
      return walkOptions(o.argumentOption, { ...ctx, repeatable: true }, out)
    case "KeyValueMap":
      return walkOptions(o.argumentOption, { ...ctx, repeatable: true, keyValue: true }, out)
    case "WithDefault":
      return walkOptions(o.options, { ...ctx, optional: true, default: showDefault(o.fallback) }, out)
    case "WithFallback":
      return walkOptions(o.options, { ...ctx, env: envOf(o.effect) }, out)
    default:
      return
  }
}

const walkArgs = (value: unknown, ctx: Context, out: Array<ArgDoc>): void => {
  const a = node(value)
  switch (a._tag) {
    case "Single":
      out.push({
        name: a.name as string,
        description: docText(a.description as HelpDoc.HelpDoc),
        default: ctx.default,
        env: ctx.env,
        required: !ctx.optional,
        repeatable: ctx.repeatable
      })
      return
    case "Map":
      return walkArgs(a.args, ctx, out)
    case "Both":
      walkArgs(a.left, ctx, out)
      return walkArgs(a.right, ctx, out)
    case "Variadic":
      return walkArgs(a.args, { ...ctx, repeatable: true }, out)
    case "WithDefault":
      return walkArgs(a.args, { ...ctx, optional: true, default: showDefault(a.fallback) }, out)
    case "WithFallbackConfig":
      return walkArgs(a.args, { ...ctx, env: envOf(a.config) }, out)
    default:
      return
  }
}

/** The options of one command, in the order they were defined. */
export const describeOptions = (options: Options.Options<unknown>): ReadonlyArray<OptionDoc> => {
  const out: Array<OptionDoc> = []
  walkOptions(options, top, out)
  return out
}

export const describeArgs = (args: Args.Args<unknown>): ReadonlyArray<ArgDoc> => {
  const out: Array<ArgDoc> = []
  walkArgs(args, top, out)
  return out
}

/** The command's own descriptor (for a command with subcommands, the parent's). */
const standard = (descriptor: unknown): Node | undefined => {
  const d = node(descriptor)
  switch (d._tag) {
    case "Standard":
      return d
    case "Map":
      return standard(d.command)
    case "Subcommands":
      return standard(d.parent)
    default:
      return undefined
  }
}

export const describeCommand = (command: {
  readonly descriptor: Descriptor.Command<unknown>
}): CommandDoc => {
  const d = standard(command.descriptor)
  if (d === undefined) throw new Error("swarm: a command without options and arguments has no help")
  return {
    name: d.name as string,
    description: docText(d.description as HelpDoc.HelpDoc),
    options: describeOptions(d.options as Options.Options<unknown>),
    args: describeArgs(d.args as Args.Args<unknown>)
  }
}
