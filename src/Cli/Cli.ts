/**
 * The `swarm` root command and `main`, which runs it the way bin.ts needs:
 * the argv normalised first (see Argv.ts), logs on stderr, no colours off a
 * terminal, every error printed once, and an exit code from `exitCode`.
 */
import { CliConfig, Command, HelpDoc, ValidationError } from "@effect/cli"
import * as Span from "@effect/cli/HelpDoc/Span"
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
  Option
} from "effect"
import * as Argv from "./Argv.js"
import * as Common from "./Common.js"
import * as Create from "./Create.js"
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

const specOf = <Name extends string, R, E, A>(
  command: Command.Command<Name, R, E, A>
): ReadonlyArray<readonly [string, Argv.CommandSpec]> => {
  const spec = Argv.specOf(Command.getUsage(command))
  return [...Command.getNames(command)].map((name) => [name, spec] as const)
}

/** Which options take a value, per subcommand, read from the commands themselves. */
const specs: ReadonlyMap<string, Argv.CommandSpec> = new Map([
  ...specOf(Join.command),
  ...specOf(List.command),
  ...specOf(Watch.command),
  ...specOf(Create.command),
  ...specOf(Serve.command)
])

const footer = HelpDoc.blocks([
  HelpDoc.h1("GLOBAL OPTIONS"),
  HelpDoc.descriptionList([
    [Span.text("-h, --help"), HelpDoc.p("Show help; after a command, that command's help.")],
    [Span.text("--version"), HelpDoc.p("Print the version.")],
    [
      Span.text("--log-level LEVEL"),
      HelpDoc.p("trace, debug, info (default), warning, error or none. Logs go to stderr.")
    ],
    [Span.text("--completions SHELL"), HelpDoc.p("Print a completion script for sh, bash, fish or zsh.")]
  ]),
  HelpDoc.h1("ENVIRONMENT"),
  HelpDoc.descriptionList([
    [Span.text("SWARM_DISCOVERY"), HelpDoc.p("The discovery URL when no argument gives one.")],
    [Span.text("SWARM_ADVERTISE"), HelpDoc.p("join: the address when --advertise is not given.")],
    [Span.text("SWARM_TOKEN_URL"), HelpDoc.p("The token service for token://<token> and create.")],
    [Span.text("SWARM_LOG_LEVEL"), HelpDoc.p("trace, debug, info (default), warning, error or none.")],
    [
      Span.text("NO_COLOR"),
      HelpDoc.p("Set to turn colours off (they are off anyway when output is not a terminal).")
    ]
  ]),
  HelpDoc.h1("EXIT CODES"),
  HelpDoc.p("0 success, or stopped by SIGINT/SIGTERM; 1 the command failed; 2 the command line is wrong.")
])

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
    const level = Common.logLevelFrom(Option.getOrUndefined(yield* Common.env("SWARM_LOG_LEVEL")))
    const cli = Command.run(root, { name: "swarm", version: options.version, executable: "swarm", footer })
    const base = yield* Effect.console
    // @effect/cli prints its own parse errors with Console.error: give them our prefix and hint.
    const console = Common.makeConsole(base, out, err, (text) => Common.formatError(command, text, true))
    return yield* cli(["node", "swarm", ...normalized.right.args]).pipe(
      Effect.catchAll((error) => {
        if (ValidationError.isValidationError(error)) return new ExitCode({ code: Common.EXIT_USAGE })
        const usage = error instanceof Common.UsageError
        return Effect.zipRight(
          print(error instanceof Error ? error.message : String(error), usage),
          new ExitCode({ code: usage ? Common.EXIT_USAGE : Common.EXIT_FAILURE })
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
