/**
 * `swarm list`: print the current members once: the first snapshot of the
 * backend's `watch`, or a timeout error after `--timeout`.
 */
import { Command } from "@effect/cli"
import { Console, Duration, Effect, type HashMap, Layer, Option, Stream } from "effect"
import * as Discovery from "../Discovery.js"
import * as Entries from "../Entries.js"
import * as Common from "./Common.js"

const NAME = "list"

export type Format = "text" | "json"

export interface ListConfig {
  readonly url: string
  readonly timeout: Duration.Duration
  readonly format: Format
  readonly options: Readonly<Record<string, string>>
}

export interface ListInput {
  readonly discovery: string
  readonly timeout: Duration.Duration
  readonly format: Format
  readonly discoveryOpt: HashMap.HashMap<string, string>
}

export const DEFAULT_TIMEOUT = Duration.seconds(10)

export const parse = (input: ListInput): ListConfig => ({
  url: input.discovery,
  timeout: input.timeout,
  format: input.format,
  options: Common.toRecord(input.discoveryOpt)
})

/**
 * The first member list from `discovery`, building the backend included,
 * or `Timeout` once `timeout` has passed on the Effect clock.
 */
export const firstSnapshot = <E, R>(
  url: string,
  discovery: Layer.Layer<Discovery.Discovery, E, R>,
  timeout: Duration.Duration
): Effect.Effect<Entries.Entries, E | Discovery.DiscoveryError | Common.Timeout, R> =>
  Effect.flatMap(Discovery.Discovery, (d) => Stream.runHead(d.watch)).pipe(
    // A stream that ends without a list means nobody is there.
    Effect.map(Option.getOrElse(() => Entries.empty)),
    Effect.provide(discovery),
    // Disconnected, so a backend stuck in an uninterruptible connect cannot hold the timeout up.
    Effect.disconnect,
    Effect.timeoutFail({ duration: timeout, onTimeout: () => new Common.Timeout({ url, timeout }) })
  )

/** Text: one host:port per line (nothing for no members). JSON: one array. */
export const render = (entries: Entries.Entries, format: Format): Option.Option<string> =>
  format === "json"
    ? Option.some(JSON.stringify(Common.formatEntries(entries)))
    : entries.length === 0
      ? Option.none()
      : Option.some(Common.formatEntries(entries).join("\n"))

export const run = (config: ListConfig) =>
  firstSnapshot(
    config.url,
    Common.discoveryLayer({ url: config.url, options: config.options }),
    config.timeout
  ).pipe(
    Effect.flatMap((entries) =>
      Option.match(render(entries, config.format), { onNone: () => Effect.void, onSome: Console.log })
    )
  )

export const command = Command.make(
  NAME,
  {
    discovery: Common.discoveryArg,
    timeout: Common.goDuration("timeout", "How long to wait for the member list.", {
      default: DEFAULT_TIMEOUT,
      min: Duration.zero,
      exclusive: true
    }),
    format: Common.format,
    discoveryOpt: Common.discoveryOpt
  },
  (input) => run(parse(input))
).pipe(Command.withDescription("Print the members of a cluster, one host:port per line."))
