/**
 * Everything `swarm` does around @effect/cli 0.77 rather than through it, in one folder, so the
 * commands (Join, List, Watch, Create, Serve) read as commands only. Each workaround and the
 * @effect/cli behaviour it replaces:
 *
 * - Argv.ts: the command line is normalised before @effect/cli sees it. @effect/cli takes an option
 *   given without its value as the positional argument, fails `--flag=value` before a positional for
 *   repeated options, breaks on a built-in (`--log-level`) after the subcommand, lets a `keyValueMap`
 *   swallow every later `a=b` word, answers a bad `--log-level`/`--completions` value and an unknown
 *   subcommand with "Invalid subcommand", and offers no "did you mean" for commands.
 * - HelpModel.ts: reads each command's option and argument trees (not public API) for the help and
 *   for Argv's table of value options, so both follow the definitions.
 * - Help.ts: our help renderer. @effect/cli's has filler text ("A user-defined piece of text."), one
 *   usage line with every option, no env var of `withFallbackConfig`, and an optional `keyValueMap`
 *   marked required.
 * - Messages.ts: an option's error is its schema's own message behind the flag's name, not the
 *   decode tree; @effect/cli's words for a missing option or argument (matched by their text) are
 *   replaced by ours, naming the env var that could have given it; an error about a value that came
 *   from an env var names the env var, not the flag @effect/cli blames.
 * - Console.ts: @effect/cli prints parse errors with `Console.error` and coloured help with
 *   `Console.log` whatever the output is; ours prefixes the errors and drops colours off a terminal.
 * - Platform.ts: @effect/cli requires `FileSystem` and `Terminal` even when no prompt or file argument
 *   is used; they are loaded on first use, not at start.
 * - `run` here: the built-ins are listed once in the root help, not under every command
 *   (`showBuiltIns: false`), and @effect/cli's `ValidationError` (already printed) becomes exit 2.
 */
import { CliConfig, Command, ValidationError } from "@effect/cli"
import { Effect, Either } from "effect"
import * as Common from "../Common.js"
import * as Argv from "./Argv.js"
import * as Console from "./Console.js"
import * as Help from "./Help.js"
import * as HelpModel from "./HelpModel.js"
import * as Messages from "./Messages.js"

export { schemaFor } from "./Messages.js"

/** The subcommands, read once for the help and the argv normalisation. */
export interface Table {
  readonly docs: ReadonlyArray<HelpModel.CommandDoc>
  readonly specs: ReadonlyMap<string, Argv.CommandSpec>
}

export const table = (commands: ReadonlyArray<Parameters<typeof HelpModel.describeCommand>[0]>): Table => {
  const docs = commands.map((c) => HelpModel.describeCommand(c))
  return { docs, specs: new Map(docs.map((doc) => [doc.name, Argv.specOf(doc)] as const)) }
}

export type Prepared = Argv.Normalized & { readonly help: boolean }

/** The normalised command line, or the first mistake in it (a usage error, exit 2). */
export const prepare = (args: ReadonlyArray<string>, t: Table): Either.Either<Prepared, Common.UsageError> =>
  Either.map(Argv.normalize(args, t.specs), (n) => ({
    ...n,
    help: n.args.some((arg) => arg === "--help" || arg === "-h")
  }))

/** The help of `command`, or the root help (whose footer the caller supplies). */
export const help = (t: Table, command: string | undefined, root: Omit<Help.RootDoc, "commands">): string => {
  const doc = t.docs.find((d) => d.name === command)
  return doc !== undefined
    ? Help.renderCommand(root.program, doc)
    : Help.renderRoot({ ...root, commands: t.docs })
}

export interface RunOptions {
  readonly version: string
  readonly out: Common.Sink
  readonly err: Common.Sink
}

/**
 * Runs the prepared command line through @effect/cli. Its own parse errors are printed here, in our
 * words, and end as `ExitCode` 2; a handler's failure is passed on for the caller to print.
 */
export const run = <Name extends string, R, E, A>(
  root: Command.Command<Name, R, E, A>,
  t: Table,
  prepared: Prepared,
  options: RunOptions
) =>
  Effect.gen(function* () {
    const { command } = prepared
    const doc = t.docs.find((d) => d.name === command)
    const cli = Command.run(root, { name: "swarm", version: options.version, executable: "swarm" })
    const console = Console.make(yield* Effect.console, options.out, options.err, (text) =>
      Common.formatError(command, Messages.explain(text, doc, prepared), true)
    )
    return yield* cli(["node", "swarm", ...prepared.args]).pipe(
      Effect.catchIf(
        ValidationError.isValidationError,
        () => new Common.ExitCode({ code: Common.EXIT_USAGE })
      ),
      Effect.withConsole(console),
      Effect.provide(CliConfig.layer({ showBuiltIns: false }))
    )
  })
