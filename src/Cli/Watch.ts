/**
 * `swarm watch`: print the current members, then every change as
 * `+ host:port` / `- host:port` lines (or JSON lines), until interrupted.
 */
import { Command } from "@effect/cli"
import { Console, Duration, Effect, Either, type HashMap, Option, Stream } from "effect"
import * as Discovery from "../Discovery.js"
import * as DiscoveryUrl from "../DiscoveryUrl.js"
import * as Entries from "../Entries.js"
import * as GoDuration from "../GoDuration.js"
import * as Common from "./Common.js"
import type { Format } from "./List.js"

const NAME = "watch"

export interface WatchConfig {
  readonly url: string
  readonly heartbeat: Duration.Duration
  readonly format: Format
  readonly options: Readonly<Record<string, string>>
}

export interface WatchInput {
  readonly discovery: string
  readonly heartbeat: Duration.Duration
  readonly format: Format
  readonly discoveryOpt: HashMap.HashMap<string, string>
}

export const parse = (input: WatchInput): WatchConfig => ({
  url: input.discovery,
  heartbeat: input.heartbeat,
  format: input.format,
  options: Common.toRecord(input.discoveryOpt)
})

export interface Event extends Discovery.Change {
  /** The first event: the members when watching began. */
  readonly initial: boolean
}

/** The members first (even when there are none), then only real changes. */
export const events = <E, R>(watch: Stream.Stream<Entries.Entries, E, R>): Stream.Stream<Event, E, R> =>
  watch.pipe(
    Stream.mapAccum(
      Option.none<Entries.Entries>(),
      (previous, next): [Option.Option<Entries.Entries>, Event] =>
        Option.match(previous, {
          onNone: () => [Option.some(next), { initial: true, added: next, removed: Entries.empty }],
          onSome: (before) => [Option.some(next), { initial: false, ...Entries.diff(before, next) }]
        })
    ),
    Stream.filter((event) => event.initial || event.added.length > 0 || event.removed.length > 0)
  )

/**
 * Text: the first members one per line, then `+ host:port` and `- host:port`.
 * JSON: one `{"added":[...],"removed":[...]}` object per line, the first holding the members.
 */
export const render = (event: Event, format: Format): ReadonlyArray<string> => {
  const added = Common.formatEntries(event.added)
  const removed = Common.formatEntries(event.removed)
  if (format === "json") return [JSON.stringify({ added, removed })]
  if (event.initial) return added
  return [...removed.map((e) => `- ${e}`), ...added.map((e) => `+ ${e}`)]
}

/** Runs until interrupted, or until the backend's stream fails. */
export const program = (format: Format) =>
  Effect.flatMap(Discovery.Discovery, (discovery) =>
    events(discovery.watch).pipe(
      Stream.runForEach((event) => Effect.forEach(render(event, format), (line) => Console.log(line)))
    )
  )

/** How the backend of `url` hears of changes, in the words of the start-up log line. */
export const how = (url: string, heartbeat: Duration.Duration): string => {
  const every = GoDuration.format(heartbeat)
  const scheme = Either.match(DiscoveryUrl.parse(url), { onLeft: () => "", onRight: (u) => u.scheme })
  switch (scheme) {
    case "token":
      return `long-poll, falling back to polling every ${every} when the server sends no X-Discovery-Index`
    case "etcd":
      return "etcd watch"
    case "zk":
      return "ZooKeeper watch"
    case "consul":
      return "Consul blocking queries"
    case "file":
      return `file watch, and a re-read every ${every}`
    case "memory":
      return "in-process memory store, changes at once"
    case "nodes":
      return "a static list, it does not change"
    default:
      return `polling every ${every}`
  }
}

export const run = (config: WatchConfig) =>
  Effect.logInfo(`watching ${DiscoveryUrl.redact(config.url)}: ${how(config.url, config.heartbeat)}`).pipe(
    Effect.zipRight(program(config.format)),
    Effect.provide(
      Common.discoveryLayer({ url: config.url, heartbeat: config.heartbeat, options: config.options })
    )
  )

export const command = Command.make(
  NAME,
  {
    discovery: Common.discoveryArg,
    heartbeat: Common.goDuration(
      "heartbeat",
      "How often to poll, for backends that poll (file://, token:// without long-poll).",
      { default: Discovery.DEFAULT_HEARTBEAT, min: Duration.seconds(1) }
    ),
    format: Common.format,
    discoveryOpt: Common.discoveryOpt
  },
  (input) => run(parse(input))
).pipe(Command.withDescription("Print the members of a cluster, then every change, until interrupted."))
