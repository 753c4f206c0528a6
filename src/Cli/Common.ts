/**
 * What the `swarm` commands share: the discovery URL argument and its env
 * fallback, `--discovery-opt`, Go-duration flags, `--format`, the output
 * sinks, the stderr logger, and the one place errors are formatted.
 *
 * Exit codes: 0 success (and after SIGINT/SIGTERM); 2 only for what the
 * command line and the environment alone show wrong (`UsageError`, or a
 * value an option's schema refuses); 1 for what needs the file system, the
 * network or a server to judge (`RunFailure`, `Timeout`, a backend's error).
 */
import { Args, Options } from "@effect/cli"
import {
  Array as Arr,
  Cause,
  Config,
  ConfigError,
  Data,
  Duration,
  Effect,
  Either,
  HashMap,
  Layer,
  Logger,
  LogLevel,
  Option,
  ParseResult,
  Schema
} from "effect"
import { writeSync } from "node:fs"
import { isatty } from "node:tty"
import * as Discovery from "../Discovery.js"
import * as Nodes from "../Discovery/Nodes.js"
import * as DiscoveryUrl from "../DiscoveryUrl.js"
import * as Entries from "../Entries.js"
import * as Entry from "../Entry.js"
import * as GoDuration from "../GoDuration.js"
import * as Messages from "./compat/Messages.js"

/** A mistake in how the command was called: exit code 2. */
export class UsageError extends Data.TaggedError("UsageError")<{
  /** The subcommand (`join`), to point at its help. */
  readonly command?: string | undefined
  readonly reason: string
}> {
  override get message(): string {
    return this.reason
  }
}

/** A failure at run time outside any backend (a store that cannot open): exit code 1. */
export class RunFailure extends Data.TaggedError("RunFailure")<{
  readonly command?: string | undefined
  readonly reason: string
}> {
  override get message(): string {
    return this.reason
  }
}

/** `list` got no member list within `--timeout`: exit code 1. */
export class Timeout extends Data.TaggedError("Timeout")<{
  readonly url: string
  readonly timeout: Duration.Duration
}> {
  override get message(): string {
    return `no member list from ${DiscoveryUrl.redact(this.url)} within ${GoDuration.format(this.timeout)} (raise --timeout, or check that the discovery service is reachable)`
  }
}

export const EXIT_OK = 0
export const EXIT_FAILURE = 1
export const EXIT_USAGE = 2

// ---------------------------------------------------------------------------
// Shared arguments and options
// ---------------------------------------------------------------------------

/** An env var for `withFallbackConfig`; what it holds goes through the option's own schema. */
export const envVar = (name: string): Config.Config<string> => Config.string(name)

/**
 * A discovery URL (a bare host:port list means nodes://), checked for a supported scheme; a nodes://
 * list is parsed here too, so every mistake typed in the URL is found before anything runs.
 */
export const DiscoveryUrlString: Schema.Schema<string> = Schema.transformOrFail(
  Schema.String,
  Schema.String,
  {
    strict: true,
    decode: (input, _, ast) => {
      const parsed = Either.flatMap(DiscoveryUrl.parse(input), (url) =>
        url.scheme === "nodes"
          ? Either.map(Nodes.parsePatterns(url.rest.split(",")), () => url)
          : Either.right(url)
      )
      return Either.isLeft(parsed)
        ? ParseResult.fail(new ParseResult.Type(ast, input, parsed.left.message))
        : ParseResult.succeed(input.trim())
    },
    encode: ParseResult.succeed
  }
)

/** The discovery URL: the positional argument, else `SWARM_DISCOVERY`. */
export const discoveryArg = Args.text({ name: "discovery" }).pipe(
  Args.withDescription(
    "The discovery URL: token://<token>, file:///path, nodes://host:port,..., etcd://h1,h2/path, zk://..., consul://..., memory://name. A bare host:port list means nodes://."
  ),
  Args.withFallbackConfig(envVar("SWARM_DISCOVERY")),
  // Its errors name the URL already ("invalid discovery URL ...", "discovery service not supported").
  Args.withSchema(Messages.schemaFor("<discovery>", DiscoveryUrlString))
)

/** `--discovery-opt key=value`, repeatable; a later repeat of a key wins. */
export const discoveryOpt = Options.keyValueMap("discovery-opt").pipe(
  Options.withPseudoName("key=value"),
  Options.withDescription("A discovery option, for example kv.path=docker/nodes or token.cacert=/ca.pem."),
  Options.withDefault(HashMap.empty<string, string>())
)

/**
 * The Discovery layer a command runs on, built through the public `Discovery.layerConfig`, the same entry point a
 * library program uses. The values are already parsed (their env fallbacks come from `withFallbackConfig`), so the
 * config is a constant here: a ConfigError cannot happen.
 */
export const discoveryLayer = (
  config: Discovery.DiscoveryConfig
): Layer.Layer<Discovery.Discovery, Discovery.DiscoveryError> =>
  Discovery.layerConfig(Config.succeed(config)).pipe(
    Layer.catchAll((error) => (ConfigError.isConfigError(error) ? Layer.die(error) : Layer.fail(error)))
  )

/** The `--discovery-opt` pairs as the plain record `Discovery.layer` takes. */
export const toRecord = (map: HashMap.HashMap<string, string>): Record<string, string> =>
  Object.fromEntries(HashMap.toEntries(map))

/** A `--name a|b` option: its error names the flag, the bad value and the choices. */
export const choice = <const C extends string>(
  name: string,
  choices: readonly [C, ...ReadonlyArray<C>],
  fallback: C,
  description: string
): Options.Options<C> => {
  const schema = Schema.String.pipe(
    Schema.filter((value) =>
      (choices as ReadonlyArray<string>).includes(value)
        ? true
        : `expected ${choices.slice(0, -1).join(", ")} or ${choices[choices.length - 1]}, got ${JSON.stringify(value)}`
    )
  ) as unknown as Schema.Schema<C, string>
  return Options.text(name).pipe(
    Options.withPseudoName(choices.join("|")),
    Options.withDescription(description),
    Options.withSchema(Messages.schemaFor(`--${name}`, schema)),
    Options.withDefault(fallback)
  )
}

export const format = choice("format", ["text", "json"], "text", "text: one host:port per line; json: JSON.")

/** The entries as they are printed: `host:port` each, in address order (see `Entry.Order`). */
export const formatEntries = (entries: Entries.Entries): ReadonlyArray<string> =>
  Arr.sort(entries, Entry.Order).map(Entry.format)

export interface DurationRule {
  readonly default: Duration.Duration
  /** The smallest allowed value, inclusive. */
  readonly min?: Duration.Duration
  /** When true the value must be strictly greater than `min`. */
  readonly exclusive?: boolean
}

const boundMessage = (rule: DurationRule, min: Duration.Duration): string =>
  rule.exclusive ? `greater than ${GoDuration.format(min)}` : `at least ${GoDuration.format(min)}`

/** A Go-duration flag, decoded by `GoDuration.FromString` and checked against its lower bound. */
export const goDuration = (
  name: string,
  description: string,
  rule: DurationRule
): Options.Options<Duration.Duration> => {
  const { min } = rule
  const bounded =
    min === undefined
      ? GoDuration.FromString
      : GoDuration.FromString.pipe(
          Schema.filter((d) =>
            (rule.exclusive ? Duration.greaterThan(d, min) : Duration.greaterThanOrEqualTo(d, min))
              ? true
              : `must be ${boundMessage(rule, min)}, got ${GoDuration.format(d)}`
          )
        )
  return Options.text(name).pipe(
    Options.withPseudoName("duration"),
    Options.withDescription(description),
    Options.withSchema(Messages.schemaFor(`--${name}`, bounded)),
    Options.withDefault(rule.default)
  )
}

/** Reads an env var through Effect's `Config`, so tests can supply their own; empty counts as unset. */
export const env = (name: string): Effect.Effect<Option.Option<string>> =>
  Config.option(Config.string(name)).pipe(
    Effect.map(Option.filter((value) => value.trim() !== "")),
    Effect.orElseSucceed(() => Option.none<string>())
  )

// ---------------------------------------------------------------------------
// Terminal output: colours, logs, errors
// ---------------------------------------------------------------------------

/** Colours only for a terminal, and never with NO_COLOR set (https://no-color.org). */
export const useColour = (stream: { readonly isTTY?: boolean }, environment = process.env): boolean =>
  stream.isTTY === true && isatty(1) && (environment.NO_COLOR ?? "") === ""

export interface Sink {
  readonly write: (text: string) => void
  readonly colour: boolean
}

/**
 * Writes to fd 1 directly while that works: creating `process.stdout` (a stream, with node:stream
 * and more behind it) would cost `swarm list` a good part of its cold start. A closed pipe
 * (`swarm watch | head -1`) ends the process with 0; a pipe that would block (EAGAIN) hands this
 * and every later write to `process.stdout`, which queues.
 */
const writeStdout = () => {
  let fallback: NodeJS.WriteStream | undefined
  return (text: string): void => {
    if (fallback !== undefined) return void fallback.write(text)
    const bytes = Buffer.from(text)
    let offset = 0
    try {
      while (offset < bytes.length) offset += writeSync(1, bytes, offset)
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code === "EPIPE") process.exit(0)
      if (code !== "EAGAIN") throw error
      fallback = process.stdout.on("error", (error: NodeJS.ErrnoException) => {
        if (error.code === "EPIPE") process.exit(0)
        throw error
      })
      fallback.write(bytes.subarray(offset))
    }
  }
}

export const stdoutSink = (): Sink => ({
  write: writeStdout(),
  colour: useColour({ isTTY: isatty(1) })
})
export const stderrSink = (): Sink => ({
  write: (text) => void process.stderr.write(text),
  colour: useColour({ isTTY: isatty(2) })
})

/** `swarm join: <message>`, redacted, plus a pointer to the help for usage errors. */
export const formatError = (command: string | undefined, message: string, usage: boolean): string => {
  const prefix = command === undefined ? "swarm" : `swarm ${command}`
  const hint = usage ? `\nRun '${prefix} --help' for usage.` : ""
  return `${prefix}: ${DiscoveryUrl.redact(message)}${hint}`
}

const renderMessage = (message: unknown): string => {
  const parts = Array.isArray(message) ? message : [message]
  return parts
    .map((part) =>
      typeof part === "string" ? part : part instanceof Error ? part.message : JSON.stringify(part)
    )
    .join(" ")
}

/** Logs as `2025-01-02T03:04:05.678Z INFO message`, one line each, redacted; causes follow, indented. */
export const makeLogger = (write: (line: string) => void): Logger.Logger<unknown, void> =>
  Logger.make(({ cause, date, logLevel, message }) => {
    let line = `${date.toISOString()} ${logLevel.label} ${renderMessage(message)}`
    if (!Cause.isEmpty(cause)) line += `\n  ${Cause.pretty(cause).split("\n").join("\n  ")}`
    write(`${DiscoveryUrl.redact(line)}\n`)
  })

export const stderrLogger = makeLogger((line) => void process.stderr.write(line))

const LEVELS: Record<string, LogLevel.LogLevel> = {
  all: LogLevel.All,
  trace: LogLevel.Trace,
  debug: LogLevel.Debug,
  info: LogLevel.Info,
  warn: LogLevel.Warning,
  warning: LogLevel.Warning,
  error: LogLevel.Error,
  fatal: LogLevel.Fatal,
  none: LogLevel.None
}

/** `SWARM_LOG_LEVEL` (trace, debug, info, warning, error, none); info when unset or unknown. */
export const logLevelFrom = (value: string | undefined): LogLevel.LogLevel =>
  LEVELS[(value ?? "").trim().toLowerCase()] ?? LogLevel.Info

/** The process exit code a run ended with, carried as the failure of `main` once its error is printed. */
export class ExitCode extends Data.TaggedError("ExitCode")<{ readonly code: number }> {}
