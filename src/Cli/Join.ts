/**
 * `swarm join`: register this node's address every heartbeat until
 * interrupted; on SIGINT/SIGTERM deregister where the backend can, exit 0.
 */
import { Command, Options } from "@effect/cli"
import { Duration, Effect, Either, Option } from "effect"
import * as Discovery from "../Discovery.js"
import * as DiscoveryUrl from "../DiscoveryUrl.js"
import * as Entry from "../Entry.js"
import * as GoDuration from "../GoDuration.js"
import * as Join from "../Join.js"
import * as Common from "./Common.js"

const NAME = "join"

export interface JoinConfig {
  readonly url: string
  readonly entry: Entry.Entry
  readonly heartbeat: Duration.Duration
  readonly ttl: Duration.Duration
  readonly delay: Duration.Duration
  readonly options: Readonly<Record<string, string>>
}

export interface JoinInput {
  readonly discovery: Option.Option<string>
  readonly advertise: Option.Option<string>
  readonly heartbeat: Option.Option<string>
  readonly ttl: Option.Option<string>
  readonly delay: Option.Option<string>
  readonly discoveryOpt: ReadonlyArray<string>
}

const usage = (reason: string) => new Common.UsageError({ command: NAME, reason })

/** Checks the flags the way DESIGN.md's compatibility contract says; the first mistake wins. */
export const parse = (input: JoinInput): Effect.Effect<JoinConfig, Common.UsageError> =>
  Effect.gen(function* () {
    const advertise = Option.isSome(input.advertise) ? input.advertise : yield* Common.env("SWARM_ADVERTISE")
    if (Option.isNone(advertise)) {
      return yield* usage("missing --advertise host:port (the address to register; or set SWARM_ADVERTISE)")
    }
    const entry = Entry.parse(advertise.value.trim())
    if (Either.isLeft(entry)) return yield* usage(`--advertise: ${entry.left.message}`)
    const heartbeat = yield* Common.duration(NAME, "heartbeat", input.heartbeat, {
      default: Discovery.DEFAULT_HEARTBEAT,
      min: Duration.seconds(1)
    })
    const ttl = yield* Common.duration(NAME, "ttl", input.ttl, { default: Discovery.DEFAULT_TTL })
    if (Duration.lessThanOrEqualTo(ttl, heartbeat)) {
      return yield* usage(
        `--ttl (${GoDuration.format(ttl)}) must be greater than --heartbeat (${GoDuration.format(heartbeat)}), or the entry expires between heartbeats`
      )
    }
    const delay = yield* Common.duration(NAME, "delay", input.delay, {
      default: Duration.zero,
      min: Duration.zero
    })
    const options = yield* Common.discoveryOptions(NAME, input.discoveryOpt)
    const url = yield* Common.discoveryUrl(NAME, input.discovery)
    return { url, entry: entry.right, heartbeat, ttl, delay, options }
  })

/** Joins until interrupted. Fails only when the backend cannot be built or cannot register at all. */
export const run = (config: JoinConfig): Effect.Effect<never, Discovery.DiscoveryError> =>
  Effect.logInfo(
    `joining ${DiscoveryUrl.redact(config.url)} as ${Entry.format(config.entry)} every ${GoDuration.format(config.heartbeat)} (ttl ${GoDuration.format(config.ttl)})`
  ).pipe(
    Effect.zipRight(Join.join(config.entry, { heartbeat: config.heartbeat, delay: config.delay })),
    Effect.provide(
      Discovery.layer(config.url, { heartbeat: config.heartbeat, ttl: config.ttl, options: config.options })
    )
  )

export const command = Command.make(
  NAME,
  {
    discovery: Common.discoveryArg,
    advertise: Options.text("advertise").pipe(
      Options.withAlias("addr"),
      Options.withPseudoName("host:port"),
      Options.withDescription("The address to register, host:port (IPv6 in brackets). Env: SWARM_ADVERTISE."),
      Options.optional
    ),
    heartbeat: Common.durationOption("heartbeat", "How often to register, at least 1s. Default 60s."),
    ttl: Common.durationOption(
      "ttl",
      "How long a registration lives; greater than --heartbeat. Default 180s."
    ),
    delay: Common.durationOption(
      "delay",
      "Wait a random time in [0, delay) before the first registration, so a fleet does not register at once. Default 0s."
    ),
    discoveryOpt: Common.discoveryOpt
  },
  (input) => Effect.flatMap(parse(input), run)
).pipe(Command.withDescription("Register this node's address with a discovery backend, every heartbeat."))
