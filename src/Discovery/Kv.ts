/**
 * Discovery over any `KvStore`, with Swarm classic's key layout:
 * `<path prefix>/docker/swarm/nodes/<host:port>`, the address as the value.
 * `--discovery-opt kv.path=...` replaces `docker/swarm/nodes`.
 *
 * The default is the `swarm` CLI's (Go swarm's `getDiscoveryOpt`), for the
 * library as for our CLI, so a program on this library, our `swarm` and Go
 * swarm see each other on the same URL. Docker Engine's pkg/discovery default,
 * `docker/nodes`, is one option away (`kv.path=docker/nodes`). docs/backends.md
 * says why.
 */
import { Array as Arr, Effect, Either, Option, type Scope, Stream } from "effect"
import type { DiscoveryShape, ResolvedOptions } from "./Backend.js"
import { BadResponse, InvalidUrl, type DiscoveryError, Unavailable } from "../DiscoveryError.js"
import * as Entries from "../Entries.js"
import * as Entry from "../Entry.js"
import * as Driver from "../internal/driver.js"
import * as Tls from "../internal/tlsFiles.js"
import type { KvError, KvStoreShape } from "../KvStore.js"

/** Where nodes live under the URL's path: the `swarm` CLI's layout (Go swarm's `kv.path` default). */
export const DEFAULT_PATH = "docker/swarm/nodes"
/** Docker Engine's pkg/discovery default (its `--cluster-store`), for `kv.path=` when reading that layout. */
export const ENGINE_PATH = "docker/nodes"

export interface KvLocation {
  readonly hosts: ReadonlyArray<string>
  /** The path prefix from the URL, without leading or trailing slashes (may be empty). */
  readonly prefix: string
}

/** Parses `h1,h2/prefix` (the part of `etcd://h1,h2/prefix` after the scheme). */
export const parseLocation = (url: string, rest: string): Either.Either<KvLocation, InvalidUrl> => {
  const slash = rest.indexOf("/")
  const hostPart = slash < 0 ? rest : rest.slice(0, slash)
  const prefix = (slash < 0 ? "" : rest.slice(slash + 1)).replace(/^\/+|\/+$/g, "")
  const hosts = hostPart.split(",").map((h) => h.trim())
  if (hostPart === "" || hosts.some((h) => h === "")) {
    return Either.left(
      new InvalidUrl({ url, reason: "expected one or more comma-separated host:port before the path" })
    )
  }
  return Either.right({ hosts, prefix })
}

/** The directory, ending in `/`, that holds the entries. */
export const directory = (prefix: string, options: Readonly<Record<string, string>>): string => {
  const path = (options["kv.path"] ?? DEFAULT_PATH).replace(/^\/+|\/+$/g, "")
  return [prefix, path].filter((p) => p !== "").join("/") + "/"
}

/**
 * A store's error as a discovery error. The `KvError` itself is the cause, so its
 * reason (`LimitExceeded`, `Invalid`, ...) and its own cause survive.
 */
export const fromKvError =
  (backend: string, target: string) =>
  (error: KvError): DiscoveryError => {
    switch (error.reason) {
      case "Unavailable":
      case "Timeout":
        return new Unavailable({
          backend,
          target,
          reason: error.reason === "Timeout" ? "Timeout" : "Transport",
          detail: error.detail,
          cause: error
        })
      case "Invalid":
        // A bad address or TLS file named in the URL or its discovery-opts: the user's to fix.
        return new InvalidUrl({ url: target, reason: error.detail, cause: error })
      case "BadResponse":
      case "LimitExceeded":
        return new BadResponse({ backend, target, reason: "StatusCode", detail: error.detail, cause: error })
    }
  }

/** A `Discovery` over a store, under `directory` (which ends in `/`). */
export const make = (
  store: KvStoreShape,
  config: {
    readonly backend: string
    readonly target: string
    readonly directory: string
    readonly ttl: ResolvedOptions["ttl"]
  }
): DiscoveryShape => {
  const toError = fromKvError(config.backend, config.target)
  const keyOf = (entry: Entry.Entry) => config.directory + Entry.format(entry)
  return {
    register: (entry) =>
      store
        .put(keyOf(entry), Entry.format(entry), { ttl: config.ttl })
        .pipe(Effect.asVoid, Effect.mapError(toError)),
    deregister: (entry) => store.delete(keyOf(entry)).pipe(Effect.asVoid, Effect.mapError(toError)),
    watch: store.watch(config.directory).pipe(
      Stream.mapError(toError),
      Stream.mapEffect((snapshot) =>
        Effect.forEach(snapshot.pairs, (pair) =>
          Either.match(Entry.parse(pair.value), {
            onLeft: (error) =>
              Effect.logWarning(`ignoring key ${pair.key}: ${error.message}`).pipe(
                Effect.as(Option.none<Entry.Entry>())
              ),
            onRight: (entry) => Effect.succeed(Option.some(entry))
          })
        ).pipe(
          // Skip the bad values only: one stray key must not hide every member.
          Effect.map((entries) => Entries.fromIterable(Arr.getSomes(entries)))
        )
      ),
      Stream.changesWith(Entries.equals)
    )
  }
}

/** `etcd://`, `zk://` and `consul://`: the store is loaded on demand so the CLI starts fast. */
export const fromUrl = (
  scheme: "etcd" | "zk" | "consul",
  rest: string,
  options: ResolvedOptions
): Effect.Effect<DiscoveryShape, DiscoveryError, Scope.Scope> =>
  Effect.gen(function* () {
    const url = `${scheme}://${rest}`
    const location = yield* parseLocation(url, rest)
    if (scheme === "consul" && location.hosts.length > 1) {
      // libkv refused this too: a Consul agent already knows the whole cluster.
      return yield* new InvalidUrl({
        url,
        reason: "consul:// takes one agent address (host:port), not a list"
      })
    }
    const tls = Tls.fromOptions(options.options)
    const toError = fromKvError(scheme, url)
    const store: KvStoreShape = yield* (() => {
      switch (scheme) {
        case "etcd":
          return Driver.load("etcd3", "etcd://", () => import("../KvStore/Etcd.js")).pipe(
            Effect.flatMap((m) => m.make({ endpoints: location.hosts, ...(tls ? { tls } : {}) }))
          )
        case "zk":
          return Driver.load("node-zookeeper-client", "zk://", () => import("../KvStore/Zookeeper.js")).pipe(
            Effect.flatMap((m) =>
              m.make({ hosts: location.hosts, sessionTimeout: options.ttl, ...(tls ? { tls } : {}) })
            )
          )
        case "consul":
          return Effect.promise(() => import("../KvStore/Consul.js")).pipe(
            Effect.flatMap((m) => m.make({ address: location.hosts[0]!, ...(tls ? { tls } : {}) }))
          )
      }
    })().pipe(Effect.mapError((error) => (error._tag === "MissingDriver" ? error : toError(error))))
    return make(store, {
      backend: scheme,
      target: url,
      directory: directory(location.prefix, options.options),
      ttl: options.ttl
    })
  })
