/**
 * `swarm join`: register this node's address every heartbeat until
 * interrupted; on SIGINT/SIGTERM deregister where the backend can, exit 0.
 */
import { Command, Options } from "@effect/cli"
import { Duration, Effect, Either, type HashMap, Schema } from "effect"
import * as Discovery from "../Discovery.js"
import * as DiscoveryUrl from "../DiscoveryUrl.js"
import * as Entry from "../Entry.js"
import * as GoDuration from "../GoDuration.js"
import * as Join from "../Join.js"
import * as Common from "./Common.js"
import * as Compat from "./compat/Compat.js"

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
  readonly discovery: string
  readonly advertise: Entry.Entry
  readonly heartbeat: Duration.Duration
  readonly ttl: Duration.Duration
  readonly delay: Duration.Duration
  readonly discoveryOpt: HashMap.HashMap<string, string>
}

/** What the options alone cannot check: the ttl against the heartbeat. */
export const parse = (input: JoinInput): Either.Either<JoinConfig, Common.UsageError> =>
  Duration.lessThanOrEqualTo(input.ttl, input.heartbeat)
    ? Either.left(
        new Common.UsageError({
          command: NAME,
          reason: `--ttl (${GoDuration.format(input.ttl)}) must be greater than --heartbeat (${GoDuration.format(input.heartbeat)}), or the entry expires between heartbeats`
        })
      )
    : Either.right({
        url: input.discovery,
        entry: input.advertise,
        heartbeat: input.heartbeat,
        ttl: input.ttl,
        delay: input.delay,
        options: Common.toRecord(input.discoveryOpt)
      })

/** Joins until interrupted. Fails only when the backend cannot be built or can never register (nodes://, file://). */
export const run = (config: JoinConfig): Effect.Effect<never, Discovery.DiscoveryError> =>
  Effect.logInfo(
    `joining ${DiscoveryUrl.redact(config.url)} as ${Entry.format(config.entry)} every ${GoDuration.format(config.heartbeat)} (ttl ${GoDuration.format(config.ttl)})`
  ).pipe(
    Effect.zipRight(
      Join.join(config.entry, {
        heartbeat: config.heartbeat,
        delay: config.delay,
        // A refused registration is logged and retried, as Swarm classic's join did (docs/cli.md).
        retryForbidden: true
      })
    ),
    Effect.provide(
      Common.discoveryLayer({
        url: config.url,
        heartbeat: config.heartbeat,
        ttl: config.ttl,
        options: config.options
      })
    )
  )

export const command = Command.make(
  NAME,
  {
    discovery: Common.discoveryArg,
    advertise: Options.text("advertise").pipe(
      Options.withAlias("addr"),
      Options.withPseudoName("host:port"),
      Options.withDescription("The address to register, host:port (IPv6 in brackets)."),
      Options.withFallbackConfig(Common.envVar("SWARM_ADVERTISE")),
      // Trimmed first: an env var often carries a stray space.
      Options.withSchema(Compat.schemaFor("--advertise", Schema.compose(Schema.Trim, Entry.FromString)))
    ),
    heartbeat: Common.goDuration("heartbeat", "How often to register.", {
      default: Discovery.DEFAULT_HEARTBEAT,
      min: Duration.seconds(1)
    }),
    ttl: Common.goDuration("ttl", "How long a registration lives; greater than --heartbeat.", {
      default: Discovery.DEFAULT_TTL
    }),
    delay: Common.goDuration(
      "delay",
      "Wait a random time in [0, delay) before the first registration, so a fleet does not register at once.",
      { default: Duration.zero, min: Duration.zero }
    ),
    discoveryOpt: Common.discoveryOpt
  },
  (input) => Effect.flatMap(parse(input), run)
).pipe(Command.withDescription("Register this node's address with a discovery backend, every heartbeat."))
