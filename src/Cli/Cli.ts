/**
 * The `swarm` root command and `main`, which runs it the way bin.ts needs:
 * the argv normalised first (see Argv.ts), logs on stderr, no colours off a
 * terminal, every error printed once, and an exit code from `exitCode`.
 */
import { CliConfig, Command, ValidationError } from "@effect/cli"
import {
  Cause,
  Data,
  Effect,
  Either,
  Exit,
  FiberRef,
  HashSet,
  type Logger,
  Logger as EffectLogger,
  Option,
  Predicate
} from "effect"
import * as Argv from "./Argv.js"
import * as Common from "./Common.js"
import * as Create from "./Create.js"
import * as Help from "./Help.js"
import * as HelpModel from "./HelpModel.js"
import * as Join from "./Join.js"
import * as List from "./List.js"
import * as Serve from "./Serve.js"
import * as Watch from "./Watch.js"

export const root = Command.make("swarm").pipe(
  Command.withDescription(
    "Docker Swarm (classic) style node discovery: join, list and watch a cluster, or serve one."
  ),
  Command.withSubcommands([Join.command, List.command, Watch.command, Create.command, Serve.command])
)

const commands = [Join.command, List.command, Watch.command, Create.command, Serve.command]

/** Which options take a value, per subcommand, read from the commands themselves. */
const specs: ReadonlyMap<string, Argv.CommandSpec> = new Map(
  commands.map((c) => {
    const doc = HelpModel.describeCommand(c)
    return [doc.name, Argv.specOf(doc)] as const
  })
)

/**
 * @effect/cli 0.77's words for a missing value, in ours: it reports a missing option as
 * "Expected to find option: '--advertise'" without its env var, and a missing argument whose
 * env var is unset as "(Missing data at SWARM_DISCOVERY: ...)".
 */
export const explain = (text: string, command: string | undefined): string => {
  const doc = commands.map((c) => HelpModel.describeCommand(c)).find((d) => d.name === command)
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

const DESCRIPTION =
  "Docker Swarm (classic) style node discovery: join, list and watch a cluster, or serve one."

/** What only the root help carries: @effect/cli's built-ins, the env vars no option names, exit codes. */
const GLOBAL_OPTIONS: ReadonlyArray<readonly [string, string]> = [
  ["-h, --help", "Show help; after a command, that command's help."],
  ["--version", "Print the version."],
  ["--log-level LEVEL", "trace, debug, info, warning, error or none. Logs go to stderr. Default: info."],
  ["--completions SHELL", "Print a completion script for sh, bash, fish or zsh."]
]

const ENVIRONMENT: ReadonlyArray<readonly [string, string]> = [
  ["SWARM_LOG_LEVEL", "The log level when --log-level is not given."],
  ["NO_COLOR", "Set to turn colours off (they are off anyway when output is not a terminal)."]
]

/** The one exit-code rule every command follows (see `exitCodeOf`). */
const EXIT_CODES: ReadonlyArray<readonly [string, string]> = [
  [String(Common.EXIT_OK), "Success, or stopped by SIGINT or SIGTERM."],
  [
    String(Common.EXIT_FAILURE),
    "A failure at run time: the backend is unreachable or answers badly, a timeout, a server error."
  ],
  [
    String(Common.EXIT_USAGE),
    "Something wrong in what was typed: an unknown option, a bad value, URL, range or address, a bad env var."
  ]
]

/** The help text for `command` (a subcommand's name), or the root help. */
export const help = (command: string | undefined, version: string): string => {
  const docs = commands.map((c) => HelpModel.describeCommand(c))
  const doc = docs.find((d) => d.name === command)
  if (doc !== undefined) return Help.renderCommand("swarm", doc)
  return Help.renderRoot({
    program: "swarm",
    version,
    description: DESCRIPTION,
    commands: docs,
    globalOptions: GLOBAL_OPTIONS,
    environment: ENVIRONMENT,
    exitCodes: EXIT_CODES
  })
}

/** Errors about what the user typed (exit 2); any other failure is one at run time (exit 1). */
const INPUT_ERRORS: ReadonlySet<string> = new Set([
  "UsageError",
  "NotSupported",
  "InvalidUrl",
  "InvalidRange",
  "InvalidEntry",
  "InvalidDuration"
])

export const exitCodeOf = (error: unknown): number =>
  Predicate.hasProperty(error, "_tag") && INPUT_ERRORS.has(String(error._tag))
    ? Common.EXIT_USAGE
    : Common.EXIT_FAILURE

/** The process exit code a run ended with, carried as the failure of `main`. */
export class ExitCode extends Data.TaggedError("ExitCode")<{ readonly code: number }> {}

export interface MainOptions {
  readonly version: string
  /** Where `Console.log` (results, help) goes. Default: process.stdout. */
  readonly out?: Common.Sink
  /** Where errors go. Default: process.stderr. */
  readonly err?: Common.Sink
  /** Default: `Common.stderrLogger`. */
  readonly logger?: Logger.Logger<unknown, void>
}

/**
 * Runs `swarm` on `args` (the command line after `node script`). Succeeds,
 * fails with `ExitCode` after printing one error, or is interrupted (exit 0).
 */
export const main = (args: ReadonlyArray<string>, options: MainOptions) =>
  Effect.gen(function* () {
    const out = options.out ?? Common.stdoutSink()
    const err = options.err ?? Common.stderrSink()
    const normalized = Argv.normalize(args, specs)
    const command = Either.isRight(normalized) ? normalized.right.command : normalized.left.command
    const print = (message: string, usage: boolean) =>
      Effect.sync(() => err.write(`${Common.formatError(command, message, usage)}\n`))
    if (Either.isLeft(normalized)) {
      yield* print(normalized.left.message, true)
      return yield* new ExitCode({ code: Common.EXIT_USAGE })
    }
    const wantsHelp = normalized.right.args.some((arg) => arg === "--help" || arg === "-h")
    // Our own help, from the same definitions @effect/cli parses with (see HelpModel.ts).
    if (wantsHelp) return yield* Effect.sync(() => out.write(`${help(command, options.version)}\n`))
    const level = Common.logLevelFrom(Option.getOrUndefined(yield* Common.env("SWARM_LOG_LEVEL")))
    const cli = Command.run(root, { name: "swarm", version: options.version, executable: "swarm" })
    const base = yield* Effect.console
    // @effect/cli prints its own parse errors with Console.error: give them our prefix and hint.
    const console = Common.makeConsole(base, out, err, (text) =>
      Common.formatError(command, explain(text, command), true)
    )
    return yield* cli(["node", "swarm", ...normalized.right.args]).pipe(
      Effect.catchAll((error) => {
        if (ValidationError.isValidationError(error)) return new ExitCode({ code: Common.EXIT_USAGE })
        const code = exitCodeOf(error)
        return Effect.zipRight(
          print(error instanceof Error ? error.message : String(error), code === Common.EXIT_USAGE),
          new ExitCode({ code })
        )
      }),
      Effect.catchAllDefect((defect) =>
        Effect.zipRight(
          print(`internal error, please report it: ${Cause.pretty(Cause.die(defect))}`, false),
          new ExitCode({ code: Common.EXIT_FAILURE })
        )
      ),
      Effect.withConsole(console),
      // The built-ins are listed once, in the footer, not under every command.
      Effect.provide(CliConfig.layer({ showBuiltIns: false })),
      EffectLogger.withMinimumLogLevel(level),
      Effect.locally(FiberRef.currentLoggers, HashSet.make(options.logger ?? Common.stderrLogger))
    )
  })

/** The exit code for how `main` ended: interruption (SIGINT/SIGTERM) is a clean stop. */
export const exitCode = (exit: Exit.Exit<unknown, unknown>): number => {
  if (Exit.isSuccess(exit) || Cause.isInterruptedOnly(exit.cause)) return Common.EXIT_OK
  const failure = Cause.failureOption(exit.cause)
  if (Option.isSome(failure) && failure.value instanceof ExitCode) return failure.value.code
  return Common.EXIT_FAILURE
}

/** For `NodeRuntime.runMain({ teardown })`. */
export const teardown = (exit: Exit.Exit<unknown, unknown>, onExit: (code: number) => void): void =>
  onExit(exitCode(exit))
