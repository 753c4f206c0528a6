/**
 * Puts the command line into the one shape @effect/cli parses reliably,
 * and catches what it gets wrong, before it sees the arguments.
 *
 * Why: with @effect/cli 0.77, an option given without its value
 * (`swarm join --advertise a:1 --heartbeat`) is silently taken as the
 * positional argument, `--flag=value` followed by a positional fails for
 * repeated options, a built-in such as `--log-level` after the
 * subcommand breaks parsing, and a bad built-in value or an unknown
 * subcommand is answered "Invalid subcommand". So this module:
 * - rejects a value option with no value (end of line, or another option next);
 * - checks the values of `--log-level` and `--completions`, naming the flag;
 * - names an unknown option or subcommand, with "did you mean" when one is close;
 * - splits `--flag=value` into `--flag value`;
 * - moves options before positionals, and built-ins (`--log-level`,
 *   `--version`) in front of the subcommand;
 * - turns `swarm join ... --help` into a form whose usage line names
 *   `swarm join`.
 *
 * Which options take a value is read from each command's definition, so
 * options added later are covered too.
 */
import { Either } from "effect"
import { UsageError } from "../Common.js"
import type { CommandDoc } from "./HelpModel.js"

export interface CommandSpec {
  /** Names (with dashes) of options that take a value. */
  readonly valueOptions: ReadonlySet<string>
  /** Names of options that take no value. */
  readonly flags: ReadonlySet<string>
  /** Names of `key=value` options (`Options.keyValueMap`). */
  readonly keyValueOptions: ReadonlySet<string>
}

/** @effect/cli's built-ins, valid before or after the subcommand. */
const GLOBAL_VALUE_OPTIONS: ReadonlyMap<string, ReadonlyArray<string>> = new Map([
  ["--log-level", ["all", "trace", "debug", "info", "warning", "error", "fatal", "none"]],
  ["--completions", ["sh", "bash", "fish", "zsh"]]
])
const GLOBAL_FLAGS = new Set(["--version", "--wizard"])
const HELP = new Set(["--help", "-h"])

/** Which options take a value, read from the command's definition (see HelpModel.ts). */
export const specOf = (command: CommandDoc): CommandSpec => ({
  valueOptions: new Set(command.options.filter((o) => o.value !== undefined).flatMap((o) => o.names)),
  flags: new Set(command.options.filter((o) => o.value === undefined).flatMap((o) => o.names)),
  keyValueOptions: new Set(command.options.filter((o) => o.keyValue).flatMap((o) => o.names))
})

export interface Normalized {
  /** The arguments to hand to @effect/cli (without `node` and the script). */
  readonly args: ReadonlyArray<string>
  /** The subcommand, when one was named. */
  readonly command: string | undefined
  /** The subcommand's options as typed (`--addr`), to tell a typed value from an env var's. */
  readonly options: ReadonlySet<string>
  readonly positionals: number
}

const done = (
  args: ReadonlyArray<string>,
  command: string | undefined,
  options: ReadonlyArray<string> = [],
  positionals = 0
): Either.Either<Normalized, UsageError> =>
  Either.right({ args, command, options: new Set(options.filter((o) => o.startsWith("-"))), positionals })

const isOptionLike = (arg: string): boolean => arg.startsWith("--") || HELP.has(arg)

/** A built-in's value, checked here: @effect/cli answers a bad one with "Invalid subcommand". */
const globalValue = (command: string | undefined, name: string, value: string): UsageError | undefined => {
  const allowed = GLOBAL_VALUE_OPTIONS.get(name)!
  if (allowed.includes(value)) return undefined
  const list = `${allowed.slice(0, -1).join(", ")} or ${allowed[allowed.length - 1]}`
  return new UsageError({ command, reason: `${name}: expected ${list}, got ${JSON.stringify(value)}` })
}

interface Globals {
  readonly globals: ReadonlyArray<string>
  /** Where the subcommand stands in `args`; `args.length` when there is none. */
  readonly at: number
}

/** The built-ins before the subcommand, up to it. */
const readGlobals = (
  args: ReadonlyArray<string>,
  commands: ReadonlyMap<string, CommandSpec>
): Either.Either<Globals, UsageError> => {
  const globals: Array<string> = []
  let i = 0
  for (; i < args.length; i++) {
    const arg = args[i]!
    if (commands.has(arg)) break
    const [name, inline] = splitInline(arg)
    if (GLOBAL_VALUE_OPTIONS.has(name)) {
      const value = inline ?? args[i + 1]
      if (value === undefined || isOptionLike(value)) return Either.left(missingValue(undefined, name))
      const bad = globalValue(undefined, name, value)
      if (bad !== undefined) return Either.left(bad)
      globals.push(name, value)
      if (inline === undefined) i++
    } else if (arg.startsWith("-")) {
      globals.push(arg)
    } else {
      return Either.left(unknownCommand(arg, commands))
    }
  }
  return Either.right({ globals, at: i })
}

/**
 * Normalises `args` (the command line after the script) for @effect/cli,
 * or fails with the first mistake it can see: an option missing its value,
 * an unknown option or command, a bad value of a built-in.
 */
export const normalize = (
  args: ReadonlyArray<string>,
  commands: ReadonlyMap<string, CommandSpec>
): Either.Either<Normalized, UsageError> =>
  Either.flatMap(readGlobals(args, commands), ({ at, globals }) => {
    if (at >= args.length) return done(globals.length === 0 ? ["--help"] : globals, undefined)
    const command = args[at]!
    // `swarm --help join` means join's help, as `swarm join --help` does.
    if (globals.some((g) => HELP.has(g))) return done(["--help", command, "--help"], command)
    return readCommand(command, commands.get(command)!, args.slice(at + 1), [...globals])
  })

/** The subcommand's own arguments: options first, then positionals; built-ins join `globals`. */
const readCommand = (
  command: string,
  spec: CommandSpec,
  rest: ReadonlyArray<string>,
  globals: Array<string>
): Either.Either<Normalized, UsageError> => {
  const options: Array<string> = []
  const positionals: Array<string> = []
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!
    if (arg === "--") {
      positionals.push(...rest.slice(i + 1))
      break
    }
    if (HELP.has(arg)) return done(["--help", command, "--help"], command)
    if (!arg.startsWith("-") || arg === "-") {
      positionals.push(arg)
      continue
    }
    const [name, inline] = splitInline(arg)
    const global = GLOBAL_VALUE_OPTIONS.has(name)
    if (global || spec.valueOptions.has(name)) {
      let value = inline
      if (value === undefined) {
        value = rest[i + 1]
        // A value may start with one dash (`--delay -1s` gets its own message later), not with two.
        if (value === undefined || isOptionLike(value)) return Either.left(missingValue(command, name))
        i++
      }
      const bad = global ? globalValue(command, name, value) : checkKeyValue(command, spec, name, value)
      if (bad !== undefined) return Either.left(bad)
      ;(global ? globals : options).push(name, value)
    } else if (GLOBAL_FLAGS.has(arg)) {
      globals.push(arg)
    } else if (spec.flags.has(name)) {
      options.push(arg)
    } else if (/^-[0-9]/.test(arg)) {
      // A negative number is a value, not an option.
      positionals.push(arg)
    } else {
      return Either.left(unknownOption(command, name, spec))
    }
  }
  // After "--" nothing is an option. It also keeps a key=value option (@effect/cli 0.77's
  // keyValueMap takes every following `a=b` word as another pair) off a positional with '='.
  const separator = positionals.some((p) => p.startsWith("-") || p.includes("=")) ? ["--"] : []
  return done(
    [...globals, command, ...options, ...separator, ...positionals],
    command,
    options,
    positionals.length
  )
}

/**
 * @effect/cli 0.77 takes `--discovery-opt novalue` as the option without a value and reports
 * "text options do not have a default value"; say what is wrong instead.
 */
const checkKeyValue = (
  command: string,
  spec: CommandSpec,
  name: string,
  value: string
): UsageError | undefined =>
  spec.keyValueOptions.has(name) && !/^[^=]+=/.test(value)
    ? new UsageError({
        command,
        reason: `${name} expects key=value, got ${JSON.stringify(value)} (for example ${name} kv.path=docker/nodes)`
      })
    : undefined

const splitInline = (arg: string): readonly [string, string | undefined] => {
  if (!arg.startsWith("--")) return [arg, undefined]
  const eq = arg.indexOf("=")
  return eq < 0 ? [arg, undefined] : [arg.slice(0, eq), arg.slice(eq + 1)]
}

/** Levenshtein distance, for "did you mean". */
const distance = (a: string, b: string): number => {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const next = [i]
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    row = next
  }
  return row[b.length]!
}

/** The nearest of `known` to `name`, within two edits. */
const nearest = (name: string, known: ReadonlyArray<string>): string | undefined =>
  known
    .map((candidate) => [candidate, distance(name, candidate)] as const)
    .filter(([, d]) => d <= 2)
    .sort((a, b) => a[1] - b[1])[0]?.[0]

const unknownOption = (command: string, name: string, spec: CommandSpec) => {
  const best = nearest(name, [
    ...spec.valueOptions,
    ...spec.flags,
    ...GLOBAL_VALUE_OPTIONS.keys(),
    ...GLOBAL_FLAGS,
    ...HELP
  ])
  const hint = best === undefined ? "" : ` (did you mean ${best}?)`
  return new UsageError({ command, reason: `unknown option ${name}${hint}` })
}

const unknownCommand = (name: string, commands: ReadonlyMap<string, CommandSpec>) => {
  const best = nearest(name, [...commands.keys()])
  const hint = best === undefined ? "" : ` (did you mean '${best}'?)`
  return new UsageError({
    reason: `unknown command ${JSON.stringify(name)}${hint}; the commands are ${[...commands.keys()].join(", ")}`
  })
}

const missingValue = (command: string | undefined, name: string) =>
  new UsageError({
    command,
    reason: `option ${name} needs a value: ${name} VALUE or ${name}=VALUE`
  })
