/**
 * The `Discovery` service: register this node, leave, and watch membership.
 * `layer(url, options)` parses a discovery URL and builds the matching backend;
 * `layerConfig` does the same from `Config`, and `layerKvStore` builds one over
 * the `KvStore` in the context.
 */
import {
  Config,
  type ConfigError,
  Context,
  Duration,
  Effect,
  Either,
  Layer,
  Option,
  type Scope,
  Stream
} from "effect"
import type { Backend, DiscoveryShape, ResolvedOptions } from "./Discovery/Backend.js"
import * as DiscoveryUrl from "./DiscoveryUrl.js"
import * as Entries from "./Entries.js"
import * as Entry from "./Entry.js"
import { type DiscoveryError, InvalidOption } from "./DiscoveryError.js"
import { KvStore } from "./KvStore.js"

export * from "./DiscoveryError.js"
export type { Backend, DiscoveryShape, ResolvedOptions } from "./Discovery/Backend.js"

export class Discovery extends Context.Tag("swarm-discovery/Discovery")<Discovery, DiscoveryShape>() {}

export interface DiscoveryOptions {
  /** How often to register (`join`) and to poll (backends that poll). Default 60s, or a third of the ttl if less. */
  readonly heartbeat?: Duration.DurationInput | undefined
  /** How long a registration lives; must be greater than the heartbeat. Default 180s, or 3 heartbeats if more. */
  readonly ttl?: Duration.DurationInput | undefined
  /** `--discovery-opt k=v` pairs. */
  readonly options?: Readonly<Record<string, string>> | undefined
}

export const DEFAULT_HEARTBEAT = Duration.seconds(60)
export const DEFAULT_TTL = Duration.seconds(180)

const positive = (
  option: string,
  input: Duration.DurationInput | undefined,
  fallback: Duration.Duration
): Either.Either<Duration.Duration, InvalidOption> => {
  if (input === undefined) return Either.right(fallback)
  const value = String(input)
  const decoded = Duration.decodeUnknown(input)
  if (Option.isNone(decoded)) {
    return Either.left(
      new InvalidOption({ option, value, reason: 'expected a duration such as "60 seconds"' })
    )
  }
  if (!Duration.isFinite(decoded.value) || Duration.lessThanOrEqualTo(decoded.value, Duration.zero)) {
    return Either.left(new InvalidOption({ option, value, reason: "must be a positive, finite duration" }))
  }
  return Either.right(decoded.value)
}

/**
 * Fills in the defaults and checks the options: durations must be positive,
 * and the ttl greater than the heartbeat (or an entry expires between two
 * registrations).
 */
export const resolveOptions = (
  options: DiscoveryOptions = {}
): Either.Either<ResolvedOptions, InvalidOption> =>
  Either.gen(function* () {
    // A default adapts to the other value when only one is given: three heartbeats per ttl, as Swarm's 60s/180s.
    const givenTtl = yield* positive("ttl", options.ttl, DEFAULT_TTL)
    const heartbeat = yield* positive(
      "heartbeat",
      options.heartbeat,
      options.ttl === undefined
        ? DEFAULT_HEARTBEAT
        : Duration.min(DEFAULT_HEARTBEAT, Duration.unsafeDivide(givenTtl, 3))
    )
    const ttl = options.ttl === undefined ? Duration.max(DEFAULT_TTL, Duration.times(heartbeat, 3)) : givenTtl
    if (Duration.lessThanOrEqualTo(ttl, heartbeat)) {
      return yield* Either.left(
        new InvalidOption({
          option: "ttl",
          value: Duration.format(ttl),
          reason: `must be greater than the heartbeat (${Duration.format(heartbeat)}), or the entry expires between registrations`
        })
      )
    }
    return { heartbeat, ttl, options: options.options ?? {} }
  })

/** Adds what every backend shares: entries are checked before any I/O, and the options are exposed. */
export const fromBackend = (backend: Backend, options: ResolvedOptions): DiscoveryShape => ({
  ...backend,
  register: (entry) => Effect.flatMap(Entry.validate(entry), backend.register),
  deregister: (entry) => Effect.flatMap(Entry.validate(entry), backend.deregister),
  options
})

const backendFor = (
  scheme: DiscoveryUrl.Scheme,
  rest: string,
  resolved: ResolvedOptions
): Effect.Effect<Backend, DiscoveryError, Scope.Scope> => {
  switch (scheme) {
    case "nodes":
      return Effect.promise(() => import("./Discovery/Nodes.js")).pipe(
        Effect.flatMap((m) => m.make(rest, resolved))
      )
    case "file":
      return Effect.promise(() => import("./Discovery/File.js")).pipe(
        Effect.flatMap((m) => m.make(rest, resolved))
      )
    case "token":
      return Effect.promise(() => import("./Discovery/Token.js")).pipe(
        Effect.flatMap((m) => m.make(rest, resolved))
      )
    case "memory":
      return Effect.promise(() => import("./Discovery/Memory.js")).pipe(
        Effect.flatMap((m) => m.make(rest, resolved))
      )
    case "etcd":
    case "zk":
    case "consul":
      return Effect.promise(() => import("./Discovery/Kv.js")).pipe(
        Effect.flatMap((m) => m.fromUrl(scheme, rest, resolved))
      )
  }
}

/**
 * Builds the backend for a discovery URL, without wrapping it in a Layer.
 *
 * `file://` reads through the `FileSystem` in the context when there is one,
 * else Node's; `token://` sends through the `HttpClient` in the context when
 * there is one and no `token.cacert`/`token.cert`/`token.key` is given, else
 * through Node's with an agent made from those options. Each `memory://`
 * backend has a store of its own: share one on purpose with `layerKvStore`.
 */
export const make = (
  url: string,
  options: DiscoveryOptions = {}
): Effect.Effect<DiscoveryShape, DiscoveryError, Scope.Scope> =>
  Effect.gen(function* () {
    const { rest, scheme } = yield* DiscoveryUrl.parse(url)
    const resolved = yield* resolveOptions(options)
    return fromBackend(yield* backendFor(scheme, rest, resolved), resolved)
  })

/** A `Discovery` Layer for a discovery URL such as `token://…`, `etcd://h1,h2/prefix` or `10.0.0.[1:3]:2375`. */
export const layer = (url: string, options: DiscoveryOptions = {}): Layer.Layer<Discovery, DiscoveryError> =>
  Layer.scoped(Discovery, make(url, options))

export interface DiscoveryConfig extends DiscoveryOptions {
  readonly url: string
}

/**
 * `layer` from `Config`, in the style of `SqliteClient.layerConfig`:
 *
 * ```ts
 * Discovery.layerConfig({ url: Config.string("SWARM_DISCOVERY"), heartbeat: Config.duration("HEARTBEAT") })
 * ```
 */
export const layerConfig = (
  config: Config.Config.Wrap<DiscoveryConfig>
): Layer.Layer<Discovery, DiscoveryError | ConfigError.ConfigError> =>
  Layer.scoped(
    Discovery,
    Effect.flatMap(Config.unwrap(config), ({ url, ...options }) => make(url, options))
  )

export interface KvStoreOptions extends DiscoveryOptions {
  /** The path prefix the entries live under, before `kv.path` (default `docker/swarm/nodes`). Default "". */
  readonly prefix?: string | undefined
  /** Names the store in messages. Default "kv". */
  readonly name?: string | undefined
}

/** A `Discovery` over the `KvStore` in the context, with Swarm classic's key layout. */
export const makeKvStore = (
  options: KvStoreOptions = {}
): Effect.Effect<DiscoveryShape, DiscoveryError, KvStore> =>
  Effect.gen(function* () {
    const resolved = yield* resolveOptions(options)
    const store = yield* KvStore
    const Kv = yield* Effect.promise(() => import("./Discovery/Kv.js"))
    const name = options.name ?? "kv"
    const backend = Kv.make(store, {
      backend: name,
      target: `${name} store`,
      directory: Kv.directory((options.prefix ?? "").replace(/^\/+|\/+$/g, ""), resolved.options),
      ttl: resolved.ttl
    })
    return fromBackend(backend, resolved)
  })

/**
 * A `Discovery` Layer over the `KvStore` in the context, so any store can be
 * brought, and shared: two of these over one `MemoryKvStore.layer` see each
 * other's registrations.
 */
export const layerKvStore = (options: KvStoreOptions = {}): Layer.Layer<Discovery, DiscoveryError, KvStore> =>
  Layer.effect(Discovery, makeKvStore(options))

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
