/**
 * The `swarm` root command and `main`, which runs it the way bin.ts needs:
 * logs on stderr, no colours off a terminal, every error printed once, and an
 * exit code from `exitCodeOf`. What it does around @effect/cli is in compat/.
 */
import { Command } from "@effect/cli"
import {
  Cause,
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
import * as Common from "./Common.js"
import * as Compat from "./compat/Compat.js"
import * as Create from "./Create.js"
import * as Join from "./Join.js"
import * as List from "./List.js"
import * as Serve from "./Serve.js"
import * as Watch from "./Watch.js"

const commands = [Join.command, List.command, Watch.command, Create.command, Serve.command] as const

export const root = Command.make("swarm").pipe(
  Command.withDescription(
    "Docker Swarm (classic) style node discovery: join, list and watch a cluster, or serve one."
  ),
  Command.withSubcommands(commands)
)

const table = Compat.table(commands)

const DESCRIPTION =
  "Docker Swarm (classic) style node discovery: join, list and watch a cluster, or serve one."

/** What only the root help carries: @effect/cli's built-ins, the env vars no option names, exit codes. */
const GLOBAL_OPTIONS: ReadonlyArray<readonly [string, string]> = [
  ["-h, --help", "Show help; after a command, that command's help."],
  ["--version", "Print the version."],
  [
    "--log-level LEVEL",
    "all, trace, debug, info, warning, error, fatal or none. Logs go to stderr. Default: info."
  ],
  ["--completions SHELL", "Print a completion script for sh, bash, fish or zsh."]
]

const ENVIRONMENT: ReadonlyArray<readonly [string, string]> = [
  ["SWARM_LOG_LEVEL", "The log level when --log-level is not given."],
  ["SWARM_TOKEN_URL", "Also the service of token://<token> (default http://127.0.0.1:8375/v1)."],
  ["NO_COLOR", "Set to turn colours off (they are off anyway when output is not a terminal)."]
]

/** The one exit-code rule every command follows (see `exitCodeOf`; docs/cli.md says the same). */
const EXIT_CODES: ReadonlyArray<readonly [string, string]> = [
  [String(Common.EXIT_OK), "Success, or stopped by SIGINT or SIGTERM."],
  [
    String(Common.EXIT_FAILURE),
    "What needs the file system, the network or a server to judge: a missing or unreadable file (certificates included), bad file contents, an unreachable backend, a server's error or refusal (403), a timeout. A refused registration does not end join: it is retried at the next heartbeat."
  ],
  [
    String(Common.EXIT_USAGE),
    "What the command line and the environment alone show wrong: an unknown command or option, a bad value, URL, range or address, a bad env var. Only these print the pointer to --help."
  ]
]

/** The help text for `command` (a subcommand's name), or the root help. */
export const help = (command: string | undefined, version: string): string =>
  Compat.help(table, command, {
    program: "swarm",
    version,
    description: DESCRIPTION,
    globalOptions: GLOBAL_OPTIONS,
    environment: ENVIRONMENT,
    exitCodes: EXIT_CODES
  })

/**
 * Errors about what the user typed (exit 2); any other failure is one at run time (exit 1). An address
 * or range typed on the command line is checked while parsing it (see `Common.DiscoveryUrlString`), so
 * an `InvalidEntry` or `InvalidRange` at run time came from a file or a server: exit 1.
 */
const INPUT_ERRORS: ReadonlySet<string> = new Set([
  "UsageError",
  "NotSupported",
  "InvalidUrl",
  "InvalidDuration",
  // A `--discovery-opt` value or an option the layer checks (token.timeout, heartbeat against ttl).
  "InvalidOption"
])

export const exitCodeOf = (error: unknown): number =>
  Predicate.hasProperty(error, "_tag") && INPUT_ERRORS.has(String(error._tag))
    ? Common.EXIT_USAGE
    : Common.EXIT_FAILURE

export const ExitCode = Common.ExitCode

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
    const prepared = Compat.prepare(args, table)
    const command = Either.isRight(prepared) ? prepared.right.command : prepared.left.command
    const print = (message: string, usage: boolean) =>
      Effect.sync(() => err.write(`${Common.formatError(command, message, usage)}\n`))
    if (Either.isLeft(prepared)) {
      yield* print(prepared.left.message, true)
      return yield* new Common.ExitCode({ code: Common.EXIT_USAGE })
    }
    if (prepared.right.help) return yield* Effect.sync(() => out.write(`${help(command, options.version)}\n`))
    const level = Common.logLevelFrom(Option.getOrUndefined(yield* Common.env("SWARM_LOG_LEVEL")))
    return yield* Compat.run(root, table, prepared.right, { version: options.version, out, err }).pipe(
      Effect.catchAll((error) => {
        if (error instanceof Common.ExitCode) return Effect.fail(error)
        const code = exitCodeOf(error)
        return Effect.zipRight(
          print(error instanceof Error ? error.message : String(error), code === Common.EXIT_USAGE),
          new Common.ExitCode({ code })
        )
      }),
      Effect.catchAllDefect((defect) =>
        Effect.zipRight(
          print(`internal error, please report it: ${Cause.pretty(Cause.die(defect))}`, false),
          new Common.ExitCode({ code: Common.EXIT_FAILURE })
        )
      ),
      EffectLogger.withMinimumLogLevel(level),
      Effect.locally(FiberRef.currentLoggers, HashSet.make(options.logger ?? Common.stderrLogger))
    )
  })

/** The exit code for how `main` ended: interruption (SIGINT/SIGTERM) is a clean stop. */
export const exitCode = (exit: Exit.Exit<unknown, unknown>): number => {
  if (Exit.isSuccess(exit) || Cause.isInterruptedOnly(exit.cause)) return Common.EXIT_OK
  const failure = Cause.failureOption(exit.cause)
  if (Option.isSome(failure) && failure.value instanceof Common.ExitCode) return failure.value.code
  return Common.EXIT_FAILURE
}

/** For `NodeRuntime.runMain({ teardown })`. */
export const teardown = (exit: Exit.Exit<unknown, unknown>, onExit: (code: number) => void): void =>
  onExit(exitCode(exit))
