/**
 * The `Discovery` service: register this node, leave, and watch membership.
 * `layer(url, options)` parses a discovery URL and builds the matching backend.
 */
import { Context, Duration, Effect, Either, Layer, type Scope, Stream } from "effect"
import * as DiscoveryUrl from "./DiscoveryUrl.js"
import * as Entries from "./Entries.js"
import type { Entry } from "./Entry.js"
import type { DiscoveryError } from "./DiscoveryError.js"

export * from "./DiscoveryError.js"

export interface DiscoveryShape {
  /** One registration, with the configured TTL. */
  readonly register: (entry: Entry) => Effect.Effect<void, DiscoveryError>
  /** Leave now. Fails with `NotImplemented` where the backend cannot. */
  readonly deregister: (entry: Entry) => Effect.Effect<void, DiscoveryError>
  /** The current members first, then the members after every change. */
  readonly watch: Stream.Stream<Entries.Entries, DiscoveryError>
  /**
   * `true` for backends that can never register (`nodes`, `file`), so `join`
   * fails before its random delay rather than after it. Optional: absent means
   * "try and see".
   */
  readonly readOnly?: boolean
}

export class Discovery extends Context.Tag("swarm-discovery/Discovery")<Discovery, DiscoveryShape>() {}

export interface DiscoveryOptions {
  /** How often to poll, for backends that poll. Default 60s. */
  readonly heartbeat?: Duration.DurationInput
  /** How long a registration lives. Default 180s. */
  readonly ttl?: Duration.DurationInput
  /** `--discovery-opt k=v` pairs. */
  readonly options?: Readonly<Record<string, string>>
}

export interface ResolvedOptions {
  readonly heartbeat: Duration.Duration
  readonly ttl: Duration.Duration
  readonly options: Readonly<Record<string, string>>
}

export const DEFAULT_HEARTBEAT = Duration.seconds(60)
export const DEFAULT_TTL = Duration.seconds(180)

export const resolveOptions = (options: DiscoveryOptions = {}): ResolvedOptions => ({
  heartbeat: Duration.decode(options.heartbeat ?? DEFAULT_HEARTBEAT),
  ttl: Duration.decode(options.ttl ?? DEFAULT_TTL),
  options: options.options ?? {}
})

/** Builds the backend for a discovery URL, without wrapping it in a Layer. */
export const make = (
  url: string,
  options: DiscoveryOptions = {}
): Effect.Effect<DiscoveryShape, DiscoveryError, Scope.Scope> =>
  Effect.gen(function* () {
    const parsed = DiscoveryUrl.parse(url)
    if (Either.isLeft(parsed)) return yield* Effect.fail(parsed.left)
    const { scheme, rest } = parsed.right
    const resolved = resolveOptions(options)
    switch (scheme) {
      case "nodes":
        return yield* Effect.promise(() => import("./Discovery/Nodes.js")).pipe(
          Effect.flatMap((m) => m.make(rest, resolved))
        )
      case "file":
        return yield* Effect.promise(() => import("./Discovery/File.js")).pipe(
          Effect.flatMap((m) => m.make(rest, resolved))
        )
      case "token":
        return yield* Effect.promise(() => import("./Discovery/Token.js")).pipe(
          Effect.flatMap((m) => m.make(rest, resolved))
        )
      case "memory":
        return yield* Effect.promise(() => import("./Discovery/Memory.js")).pipe(
          Effect.flatMap((m) => m.make(rest, resolved))
        )
      case "etcd":
      case "zk":
      case "consul":
        return yield* Effect.promise(() => import("./Discovery/Kv.js")).pipe(
          Effect.flatMap((m) => m.fromUrl(scheme, rest, resolved))
        )
    }
  })

/** A `Discovery` Layer for a discovery URL such as `token://…`, `etcd://h1,h2/prefix` or `10.0.0.[1:3]:2375`. */
export const layer = (url: string, options: DiscoveryOptions = {}): Layer.Layer<Discovery, DiscoveryError> =>
  Layer.scoped(Discovery, make(url, options))

export interface Change {
  readonly added: Entries.Entries
  readonly removed: Entries.Entries
}

/** Turns a membership stream into `{added, removed}` events; the first event adds the initial members. */
export const changes = <E, R>(watch: Stream.Stream<Entries.Entries, E, R>): Stream.Stream<Change, E, R> =>
  watch.pipe(
    Stream.mapAccum(Entries.empty, (previous, next) => [next, Entries.diff(previous, next)] as const),
    Stream.filter((change) => change.added.length > 0 || change.removed.length > 0)
  )

/** The membership stream with repeats removed (same set, any order). */
export const distinctEntries = <E, R>(
  watch: Stream.Stream<Entries.Entries, E, R>
): Stream.Stream<Entries.Entries, E, R> => watch.pipe(Stream.changesWith(Entries.equals))
