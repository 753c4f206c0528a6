/**
 * `swarm serve`: the token discovery server (Docker Hub's v1 API plus
 * long-poll watches, per-entry delete, /healthz and /metrics).
 *
 * The server and the SQLite driver (a native module) are imported only
 * when this command runs, so the other commands start without them; the
 * etcd client only with `--store etcd://`.
 */
import { Command, Options } from "@effect/cli"
import { homedir } from "node:os"
import { isAbsolute, join, resolve } from "node:path"
import { Duration, Effect, Either, Option } from "effect"
import { parseLocation } from "../Discovery/Kv.js"
import { fromOptions as tlsFiles, type TlsFiles } from "../internal/tlsFiles.js"
import * as Entry from "../Entry.js"
import * as GoDuration from "../GoDuration.js"
import * as Config from "../Server/Config.js"
import * as Common from "./Common.js"

export const NAME = "serve"

export {
  DEFAULT_LISTEN,
  DEFAULT_MAX_ENTRIES,
  DEFAULT_MAX_TTL,
  DEFAULT_MIN_TTL,
  DEFAULT_TTL
} from "../Server/Config.js"

export type BoundName = Config.BoundKey
export type BoundValues = Config.BoundsConfig
/** The file inside --data-dir. */
export const DATABASE_FILE = "discovery.db"

export type StoreChoice =
  | { readonly kind: "memory" }
  | { readonly kind: "sqlite"; readonly file: string; readonly synchronous: "normal" | "full" }
  | {
      readonly kind: "etcd"
      readonly endpoints: ReadonlyArray<string>
      readonly prefix: string
      readonly tls?: TlsFiles
    }

export interface ServeConfig {
  readonly host: string
  readonly port: number
  readonly store: StoreChoice
  readonly dataDir: string
  readonly defaultTtl: Duration.Duration
  readonly minTtl: Duration.Duration
  readonly maxTtl: Duration.Duration
  readonly maxEntries: number
  readonly bounds: BoundValues
  /** `--recover`: set a damaged SQLite file aside and start from what it still holds. */
  readonly recover: boolean
  readonly tls: Option.Option<{
    readonly cert: string
    readonly key: string
    readonly ca: Option.Option<string>
    readonly verify: boolean
  }>
  /** Where the admin token comes from (`--admin-token-file`, else `SWARM_ADMIN_TOKEN`); none: overview off. */
  readonly admin?: AdminTokenSource | undefined
}

export type AdminTokenSource =
  { readonly kind: "env"; readonly token: string } | { readonly kind: "file"; readonly path: string }

/** The shortest admin token accepted: a guessable one would open the overview to anyone. */
export const MIN_ADMIN_TOKEN = 16

export interface ServeInput {
  readonly listen: string
  readonly store: Option.Option<string>
  /** `--store-opt k=v` (repeatable): kv.cacertfile, kv.certfile, kv.keyfile for `etcd://`. */
  readonly storeOpt?: ReadonlyArray<string>
  readonly dataDir: Option.Option<string>
  readonly defaultTtl: Duration.Duration
  readonly minTtl: Duration.Duration
  readonly maxTtl: Duration.Duration
  readonly maxEntries: number
  /** The `--max-*` bound flags; absent ones take their defaults. */
  readonly bounds?: Partial<BoundValues>
  readonly recover?: boolean
  readonly tlscert: Option.Option<string>
  readonly tlskey: Option.Option<string>
  readonly tlscacert: Option.Option<string>
  readonly tlsverify: boolean
  readonly adminTokenFile?: Option.Option<string>
}

const usage = (reason: string) => new Common.UsageError({ command: NAME, reason })

/** `host:port`, `[v6]:port` or `:port` (every interface); port 0 picks a free one. */
export const parseListen = (
  value: string
): Either.Either<{ host: string; port: number }, Common.UsageError> => {
  const text = value.trim()
  const fail = (why: string) =>
    Either.left(
      usage(
        `--listen ${JSON.stringify(value)}: ${why}; expected host:port, for example 127.0.0.1:8375, 0.0.0.0:8375, [::1]:8375 or :8375`
      )
    )
  if (/^:[0-9]{1,5}$/.test(text)) {
    const port = Number(text.slice(1))
    return port <= 65535 ? Either.right({ host: "0.0.0.0", port }) : fail("the port is above 65535")
  }
  // Port 0 is fine for a server (the kernel picks one); Entry's rules want 1-65535, so check with 1.
  const zero = /:0+$/.test(text)
  const parsed = Entry.parse(zero ? text.replace(/:0+$/, ":1") : text)
  if (Either.isLeft(parsed)) return fail(parsed.left.reason)
  return Either.right({ host: parsed.right.host, port: zero ? 0 : parsed.right.port })
}

const STORE_OPTS = ["kv.cacertfile", "kv.certfile", "kv.keyfile"]

/**
 * `memory://`, `sqlite://` (the data dir), `sqlite:///path/file.db[?synchronous=full]`,
 * `etcd://h1:p,h2:p/prefix` (`storeOpt` holds its TLS files).
 */
export const parseStore = (
  value: Option.Option<string>,
  dataDir: string,
  storeOpt: ReadonlyArray<string> = []
): Either.Either<StoreChoice, Common.UsageError> => {
  const defaultFile = join(dataDir, DATABASE_FILE)
  if (Option.isNone(value)) {
    // The default store is SQLite, which takes no --store-opt: say so rather than ignore it.
    return storeOpt.length > 0
      ? Either.left(
          usage(`--store-opt only applies to --store etcd://; the default store (sqlite) takes none`)
        )
      : Either.right({ kind: "sqlite", file: defaultFile, synchronous: "normal" })
  }
  const text = value.value.trim()
  const at = text.indexOf("://")
  const scheme = (at < 0 ? text : text.slice(0, at)).toLowerCase()
  const rest = at < 0 ? "" : text.slice(at + 3)
  const fail = (why: string) => Either.left(usage(`--store ${JSON.stringify(value.value)}: ${why}`))
  if (storeOpt.length > 0 && scheme !== "etcd") return fail("--store-opt only applies to etcd://")
  switch (scheme) {
    case "memory":
      return rest.replace(/\/+$/, "") === ""
        ? Either.right({ kind: "memory" })
        : fail("memory:// takes nothing after the scheme (the server's memory store is its own)")
    case "sqlite": {
      const q = rest.indexOf("?")
      const path = q < 0 ? rest : rest.slice(0, q)
      const params = new URLSearchParams(q < 0 ? "" : rest.slice(q + 1))
      const sync = (params.get("synchronous") ?? "normal").toLowerCase()
      if (sync !== "normal" && sync !== "full") {
        return fail(`synchronous=${JSON.stringify(params.get("synchronous"))} is not normal or full`)
      }
      for (const key of params.keys()) {
        if (key !== "synchronous")
          return fail(`unknown parameter ${JSON.stringify(key)} (only synchronous=normal|full)`)
      }
      const file = path === "" ? defaultFile : isAbsolute(path) ? path : resolve(path)
      return Either.right({ kind: "sqlite", file, synchronous: sync })
    }
    case "etcd": {
      const location = parseLocation(text, rest)
      if (Either.isLeft(location)) return fail(location.left.reason)
      const opts: Record<string, string> = {}
      for (const opt of storeOpt) {
        const eq = opt.indexOf("=")
        const key = eq <= 0 ? "" : opt.slice(0, eq).trim()
        if (!STORE_OPTS.includes(key)) {
          return fail(
            `--store-opt ${JSON.stringify(opt)}: expected ${STORE_OPTS.map((k) => `${k}=/path`).join(", ")}`
          )
        }
        opts[key] = opt.slice(eq + 1)
      }
      const tls = tlsFiles(opts)
      return Either.right({
        kind: "etcd",
        endpoints: location.right.hosts,
        prefix: location.right.prefix,
        ...(tls ? { tls } : {})
      })
    }
    default:
      return fail(
        "unknown store; use sqlite:// (the default, a file in --data-dir), sqlite:///path/file.db, memory:// or etcd://h1:2379,h2:2379/prefix"
      )
  }
}

/** `$XDG_STATE_HOME/swarm-discovery`, else `~/.local/state/swarm-discovery`. */
export const defaultDataDir: Effect.Effect<string> = Effect.flatMap(Common.env("XDG_STATE_HOME"), (xdg) =>
  Option.match(xdg, {
    onNone: () => Effect.sync(() => join(homedir(), ".local", "state")),
    onSome: Effect.succeed
  }).pipe(Effect.map((state) => join(state, "swarm-discovery")))
)

export const parse = (input: ServeInput): Effect.Effect<ServeConfig, Common.UsageError> =>
  Effect.gen(function* () {
    const { host, port } = yield* parseListen(input.listen)
    const dataDir = Option.isSome(input.dataDir) ? resolve(input.dataDir.value) : yield* defaultDataDir
    const store = yield* parseStore(input.store, dataDir, input.storeOpt ?? [])
    const { maxTtl, minTtl } = input
    if (Duration.lessThan(maxTtl, minTtl)) {
      return yield* usage(
        `--max-ttl ${GoDuration.format(maxTtl)} is below --min-ttl ${GoDuration.format(minTtl)}`
      )
    }
    // Not given (the option's own default object): fit it into the range rather than refuse it.
    const defaultTtl =
      input.defaultTtl === Config.DEFAULT_TTL
        ? Duration.clamp(Config.DEFAULT_TTL, { minimum: minTtl, maximum: maxTtl })
        : input.defaultTtl
    if (Duration.lessThan(defaultTtl, minTtl)) {
      return yield* usage(
        `--default-ttl ${GoDuration.format(defaultTtl)} is below --min-ttl ${GoDuration.format(minTtl)}`
      )
    }
    if (Duration.greaterThan(defaultTtl, maxTtl)) {
      return yield* usage(
        `--default-ttl ${GoDuration.format(defaultTtl)} is above --max-ttl ${GoDuration.format(maxTtl)}`
      )
    }
    if (!Number.isInteger(input.maxEntries) || input.maxEntries < 1) {
      return yield* usage(`--max-entries must be a whole number of at least 1, got ${input.maxEntries}`)
    }
    const bounds = {} as { [K in BoundName]: number }
    for (const row of Config.BOUNDS) {
      const value = input.bounds?.[row.key] ?? row.default
      if (!Number.isInteger(value) || value < 1) {
        return yield* usage(`--${row.flag} must be a whole number of at least 1, got ${value}`)
      }
      bounds[row.key] = value
    }
    const given = (o: Option.Option<string>) => Option.filter(o, (s) => s.trim() !== "")
    const cert = given(input.tlscert)
    const key = given(input.tlskey)
    const ca = given(input.tlscacert)
    if (Option.isSome(cert) !== Option.isSome(key)) {
      return yield* usage("--tlscert and --tlskey go together: give both to serve HTTPS")
    }
    if (input.tlsverify && Option.isNone(ca)) {
      return yield* usage("--tlsverify needs --tlscacert, the CA that client certificates must be signed by")
    }
    if (Option.isSome(ca) && !input.tlsverify) {
      return yield* usage(
        "--tlscacert only matters with --tlsverify (mutual TLS); add --tlsverify or drop --tlscacert"
      )
    }
    if (input.tlsverify && Option.isNone(cert)) {
      return yield* usage("--tlsverify needs --tlscert and --tlskey: mutual TLS is TLS first")
    }
    const tls =
      Option.isSome(cert) && Option.isSome(key)
        ? Option.some({ cert: cert.value, key: key.value, ca, verify: input.tlsverify })
        : Option.none()
    const recover = input.recover === true
    if (recover && store.kind !== "sqlite") {
      return yield* usage("--recover only applies to the SQLite store (sqlite://, the default)")
    }
    const tokenFile = given(input.adminTokenFile ?? Option.none())
    const tokenEnv = yield* Common.env("SWARM_ADMIN_TOKEN")
    if (
      Option.isNone(tokenFile) &&
      Option.isSome(tokenEnv) &&
      tokenEnv.value.trim().length < MIN_ADMIN_TOKEN
    ) {
      return yield* usage(
        `SWARM_ADMIN_TOKEN is too short (${tokenEnv.value.trim().length} characters): use at least ${MIN_ADMIN_TOKEN}, for example $(openssl rand -hex 16)`
      )
    }
    const admin: AdminTokenSource | undefined = Option.isSome(tokenFile)
      ? { kind: "file", path: resolve(tokenFile.value) }
      : Option.isSome(tokenEnv)
        ? { kind: "env", token: tokenEnv.value.trim() }
        : undefined
    return {
      host,
      port,
      store,
      dataDir,
      defaultTtl,
      minTtl,
      maxTtl,
      maxEntries: input.maxEntries,
      bounds,
      recover,
      tls,
      ...(admin === undefined ? {} : { admin })
    }
  })

const boundOptions = Object.fromEntries(
  Config.BOUNDS.map((row) => [
    row.key,
    // The help prints the default from `withDefault`.
    Options.integer(row.flag).pipe(Options.withDescription(row.description), Options.withDefault(row.default))
  ])
) as { readonly [K in BoundName]: Options.Options<number> }

const options = {
  listen: Options.text("listen").pipe(
    Options.withPseudoName("host:port"),
    Options.withDescription("Address to listen on: host:port, [::1]:port, or :port for every interface."),
    Options.withDefault(Config.DEFAULT_LISTEN)
  ),
  store: Options.text("store").pipe(
    Options.withPseudoName("URL"),
    Options.withDescription(
      "Where entries live: sqlite:// (default: a file in --data-dir), sqlite:///path/file.db[?synchronous=full], memory://, or etcd://h1:2379,h2:2379/prefix (several servers share it: high availability)."
    ),
    Options.optional
  ),
  storeOpt: Options.text("store-opt").pipe(
    Options.withPseudoName("key=value"),
    Options.withDescription(
      "A store option for etcd://: kv.cacertfile=/ca.pem, kv.certfile=/cert.pem, kv.keyfile=/key.pem (TLS to etcd)."
    ),
    Options.repeated
  ),
  dataDir: Options.text("data-dir").pipe(
    Options.withPseudoName("dir"),
    Options.withDescription(
      "Directory of the SQLite file, created if missing; when not given, $XDG_STATE_HOME/swarm-discovery or ~/.local/state/swarm-discovery."
    ),
    Options.optional
  ),
  defaultTtl: Common.goDuration("default-ttl", "TTL of a registration that gives none.", {
    default: Config.DEFAULT_TTL
  }),
  minTtl: Common.goDuration("min-ttl", "Smaller TTLs are raised to this.", {
    default: Config.DEFAULT_MIN_TTL,
    min: Duration.zero,
    exclusive: true
  }),
  maxTtl: Common.goDuration("max-ttl", "Larger TTLs are lowered to this.", {
    default: Config.DEFAULT_MAX_TTL
  }),
  maxEntries: Options.integer("max-entries").pipe(
    Options.withDescription("Entries per cluster; a registration past it gets 409. Refreshes always pass."),
    Options.withDefault(Config.DEFAULT_MAX_ENTRIES)
  ),
  ...boundOptions,
  recover: Options.boolean("recover").pipe(
    Options.withDescription(
      "If the SQLite file is damaged, keep it aside (renamed) and start from a fresh file holding what is still readable."
    )
  ),
  tlscert: Options.text("tlscert").pipe(
    Options.withPseudoName("file"),
    Options.withDescription("PEM certificate: serve HTTPS (with --tlskey)."),
    Options.optional
  ),
  tlskey: Options.text("tlskey").pipe(
    Options.withPseudoName("file"),
    Options.withDescription("PEM private key of --tlscert."),
    Options.optional
  ),
  tlscacert: Options.text("tlscacert").pipe(
    Options.withPseudoName("file"),
    Options.withDescription("PEM CA that client certificates must be signed by (with --tlsverify)."),
    Options.optional
  ),
  tlsverify: Options.boolean("tlsverify").pipe(
    Options.withDescription("Mutual TLS: require a client certificate signed by --tlscacert.")
  ),
  adminTokenFile: Options.text("admin-token-file").pipe(
    Options.withPseudoName("file"),
    Options.withDescription(
      "Turn on the operator overview (/ui/) and /v1/admin/ behind the token on this file's first line (at least 16 characters). Default: $SWARM_ADMIN_TOKEN; with neither they are off."
    ),
    Options.optional
  )
}

export const command = Command.make(NAME, options, (input) =>
  Effect.flatMap(
    parse({
      ...input,
      bounds: Object.fromEntries(Config.BOUNDS.map((row) => [row.key, input[row.key]])) as BoundValues
    }),
    (config) =>
      Effect.flatMap(
        Effect.promise(() => import("./ServeRun.js")),
        (ServeRun) => ServeRun.run(config)
      )
  )
).pipe(
  Command.withDescription(
    "Run the token discovery service: Docker Hub's v1 API (create, register, list, delete) with TTL expiry, long-poll watches, /healthz and /metrics."
  )
)
