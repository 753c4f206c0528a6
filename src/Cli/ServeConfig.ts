/**
 * `swarm serve`'s configuration: what its flags and env vars hold (`ServeInput`), what the server is
 * started with (`ServeConfig`), and `parse` from one to the other, one check per concern (listen
 * address, store, TTLs, bounds, TLS, admin token). Defaults and bounds come from the server's own
 * settings module (Server/Config.ts), so nothing here repeats them.
 *
 * Everything here judges the command line and the environment alone (exit 2); files are read when
 * the server starts (ServeRun.ts, exit 1).
 */
import { readFileSync } from "node:fs"
import { homedir } from "node:os"
import { isAbsolute, join, resolve } from "node:path"
import { Duration, Effect, Either, Option } from "effect"
import { parseLocation } from "../Discovery/Kv.js"
import * as Entry from "../Entry.js"
import * as GoDuration from "../GoDuration.js"
import { fromOptions as tlsFiles, type TlsFiles } from "../internal/tlsFiles.js"
import type { LeaseMode } from "../KvStore/Etcd.js"
import * as ServerConfig from "../Server/Config.js"
import * as Common from "./Common.js"

export const NAME = "serve"

/** The file inside --data-dir. */
export const DATABASE_FILE = "discovery.db"

/** The shortest admin token accepted: a guessable one would open the overview to anyone. */
export const MIN_ADMIN_TOKEN = 16

export type StoreChoice =
  | { readonly kind: "memory" }
  | { readonly kind: "sqlite"; readonly file: string; readonly synchronous: "normal" | "full" }
  | {
      readonly kind: "etcd"
      readonly endpoints: ReadonlyArray<string>
      readonly prefix: string
      readonly tls?: TlsFiles
      /** `--store-opt kv.leases=per-key|shared`; default `shared` (`DEFAULT_LEASES`). */
      readonly leases: LeaseMode
      /**
       * `--store-opt kv.compaction=5m|off`: how often the group compacts etcd's history; absent: never. Default
       * with shared leases `DEFAULT_COMPACTION` (each heartbeat is a put), else off.
       */
      readonly compaction?: Duration.Duration
    }

export interface TlsChoice {
  readonly cert: string
  readonly key: string
  readonly ca: Option.Option<string>
  readonly verify: boolean
}

export type AdminTokenSource =
  { readonly kind: "env"; readonly token: string } | { readonly kind: "file"; readonly path: string }

export interface ServeConfig {
  readonly host: string
  readonly port: number
  readonly store: StoreChoice
  readonly dataDir: string
  readonly defaultTtl: Duration.Duration
  readonly minTtl: Duration.Duration
  readonly maxTtl: Duration.Duration
  readonly maxEntries: number
  readonly bounds: ServerConfig.BoundsConfig
  /** `--recover`: set a damaged SQLite file aside and start from what it still holds. */
  readonly recover: boolean
  readonly tls: Option.Option<TlsChoice>
  /** Where the admin token comes from (`--admin-token-file`, else `SWARM_ADMIN_TOKEN`); none: overview off. */
  readonly admin?: AdminTokenSource | undefined
}

export interface ServeInput {
  readonly listen: string
  readonly store: Option.Option<string>
  /** `--store-opt k=v` (repeatable) for `etcd://`: kv.cacertfile, kv.certfile, kv.keyfile, kv.leases, kv.compaction. */
  readonly storeOpt?: ReadonlyArray<string>
  readonly dataDir: Option.Option<string>
  readonly defaultTtl: Duration.Duration
  readonly minTtl: Duration.Duration
  readonly maxTtl: Duration.Duration
  readonly maxEntries: number
  /** The `--max-*` bound flags (Server/Config.ts `BOUNDS`); absent ones take their defaults. */
  readonly bounds?: Partial<ServerConfig.BoundsConfig>
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

const STORE_OPTS = ["kv.cacertfile", "kv.certfile", "kv.keyfile", "kv.leases", "kv.compaction"]
const LEASE_MODES: ReadonlyArray<LeaseMode> = ["per-key", "shared"]

/**
 * `swarm serve`'s lease mode: shared by time. A new entry costs a share of one etcd transaction instead of a lease
 * grant and a put (0.5x raw etcd puts against 0.05x at 100k entries, bench/RESULTS.md), and no entry depends on
 * etcd keeping a renewed lease alive across a leader change (etcd < 3.4.28 / 3.5.11 may not). The library's etcd
 * store keeps one lease per key: a `swarm join` holds one entry, which a keep-alive refreshes with no write.
 */
export const DEFAULT_LEASES: LeaseMode = "shared"

/** With shared leases every heartbeat is a put: the group compacts etcd's history this often unless told. */
export const DEFAULT_COMPACTION = Duration.minutes(5)

const parseSqlite = (
  rest: string,
  defaultFile: string,
  fail: (why: string) => Either.Either<never, Common.UsageError>
): Either.Either<StoreChoice, Common.UsageError> => {
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

const parseEtcd = (
  text: string,
  rest: string,
  storeOpt: ReadonlyArray<string>,
  fail: (why: string) => Either.Either<never, Common.UsageError>
): Either.Either<StoreChoice, Common.UsageError> => {
  const location = parseLocation(text, rest)
  if (Either.isLeft(location)) return fail(location.left.reason)
  const opts: Record<string, string> = {}
  for (const opt of storeOpt) {
    const eq = opt.indexOf("=")
    const key = eq <= 0 ? "" : opt.slice(0, eq).trim()
    if (!STORE_OPTS.includes(key)) {
      return fail(
        `--store-opt ${JSON.stringify(opt)}: expected kv.cacertfile=/path, kv.certfile=/path, kv.keyfile=/path, kv.leases=${LEASE_MODES.join("|")} or kv.compaction=5m|off`
      )
    }
    opts[key] = opt.slice(eq + 1)
  }
  const { "kv.leases": leases, "kv.compaction": every, ...files } = opts
  const mode = LEASE_MODES.find((m) => m === leases?.trim())
  if (leases !== undefined && mode === undefined) {
    return fail(`--store-opt kv.leases=${JSON.stringify(leases)}: expected ${LEASE_MODES.join(" or ")}`)
  }
  const chosen = mode ?? DEFAULT_LEASES
  const compaction = parseCompaction(every, chosen)
  if (Either.isLeft(compaction)) return fail(compaction.left)
  const tls = tlsFiles(files)
  return Either.right({
    kind: "etcd",
    endpoints: location.right.hosts,
    prefix: location.right.prefix,
    ...(tls ? { tls } : {}),
    leases: chosen,
    ...(compaction.right ? { compaction: compaction.right } : {})
  })
}

/**
 * `kv.compaction=5m` (at least a minute: it is the history kept for watches to resume), or `off`; absent, the
 * default of the lease mode.
 */
const parseCompaction = (
  every: string | undefined,
  leases: LeaseMode
): Either.Either<Duration.Duration | undefined, string> => {
  if (every === undefined) return Either.right(leases === "shared" ? DEFAULT_COMPACTION : undefined)
  if (every.trim() === "off") return Either.right(undefined)
  const parsed = GoDuration.parse(every.trim())
  return Either.isRight(parsed) && Duration.greaterThanOrEqualTo(parsed.right, Duration.minutes(1))
    ? Either.right(parsed.right)
    : Either.left(
        `--store-opt kv.compaction=${JSON.stringify(every)}: expected a duration of 1m or more (5m), or off`
      )
}

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
    case "sqlite":
      return parseSqlite(rest, defaultFile, fail)
    case "etcd":
      return parseEtcd(text, rest, storeOpt, fail)
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

const show = GoDuration.format

/** The TTL range, and the default TTL inside it. */
export const parseTtls = (
  input: Pick<ServeInput, "defaultTtl" | "minTtl" | "maxTtl">
): Either.Either<Pick<ServeConfig, "defaultTtl" | "minTtl" | "maxTtl">, Common.UsageError> => {
  const { maxTtl, minTtl } = input
  if (Duration.lessThan(maxTtl, minTtl)) {
    return Either.left(usage(`--max-ttl ${show(maxTtl)} is below --min-ttl ${show(minTtl)}`))
  }
  // Not given (the option's own default object): fit it into the range rather than refuse it.
  const defaultTtl =
    input.defaultTtl === ServerConfig.DEFAULT_TTL
      ? Duration.clamp(ServerConfig.DEFAULT_TTL, { minimum: minTtl, maximum: maxTtl })
      : input.defaultTtl
  if (Duration.lessThan(defaultTtl, minTtl)) {
    return Either.left(usage(`--default-ttl ${show(defaultTtl)} is below --min-ttl ${show(minTtl)}`))
  }
  if (Duration.greaterThan(defaultTtl, maxTtl)) {
    return Either.left(usage(`--default-ttl ${show(defaultTtl)} is above --max-ttl ${show(maxTtl)}`))
  }
  return Either.right({ defaultTtl, minTtl, maxTtl })
}

const wholeNumber = (flag: string, value: number): Either.Either<number, Common.UsageError> =>
  Number.isInteger(value) && value >= 1
    ? Either.right(value)
    : Either.left(usage(`--${flag} must be a whole number of at least 1, got ${value}`))

/** `--max-entries` and every bound of Server/Config.ts's table, each a whole number of at least 1. */
export const parseBounds = (
  input: Pick<ServeInput, "maxEntries" | "bounds">
): Either.Either<Pick<ServeConfig, "maxEntries" | "bounds">, Common.UsageError> =>
  Either.gen(function* () {
    const maxEntries = yield* wholeNumber("max-entries", input.maxEntries)
    const bounds = {} as { -readonly [K in ServerConfig.BoundKey]: number }
    for (const row of ServerConfig.BOUNDS) {
      bounds[row.key] = yield* wholeNumber(row.flag, input.bounds?.[row.key] ?? row.default)
    }
    return { maxEntries, bounds }
  })

const given = (o: Option.Option<string> | undefined) =>
  Option.filter(o ?? Option.none(), (s) => s.trim() !== "")

/** `--tlscert`/`--tlskey` (HTTPS), plus `--tlscacert` with `--tlsverify` (mutual TLS); the files are read later. */
export const parseTls = (
  input: Pick<ServeInput, "tlscert" | "tlskey" | "tlscacert" | "tlsverify">
): Either.Either<Option.Option<TlsChoice>, Common.UsageError> => {
  const cert = given(input.tlscert)
  const key = given(input.tlskey)
  const ca = given(input.tlscacert)
  if (Option.isSome(cert) !== Option.isSome(key)) {
    return Either.left(usage("--tlscert and --tlskey go together: give both to serve HTTPS"))
  }
  if (input.tlsverify && Option.isNone(ca)) {
    return Either.left(
      usage("--tlsverify needs --tlscacert, the CA that client certificates must be signed by")
    )
  }
  if (Option.isSome(ca) && !input.tlsverify) {
    return Either.left(
      usage("--tlscacert only matters with --tlsverify (mutual TLS); add --tlsverify or drop --tlscacert")
    )
  }
  if (input.tlsverify && Option.isNone(cert)) {
    return Either.left(usage("--tlsverify needs --tlscert and --tlskey: mutual TLS is TLS first"))
  }
  return Either.right(
    Option.isSome(cert) && Option.isSome(key)
      ? Option.some({ cert: cert.value, key: key.value, ca, verify: input.tlsverify })
      : Option.none()
  )
}

const tooShort = (token: string) => token.length < MIN_ADMIN_TOKEN

/** `--admin-token-file` (read when the server starts), else `SWARM_ADMIN_TOKEN` (checked now), else none. */
export const parseAdmin = (
  adminTokenFile: Option.Option<string> | undefined
): Effect.Effect<AdminTokenSource | undefined, Common.UsageError> =>
  Effect.gen(function* () {
    const file = given(adminTokenFile)
    if (Option.isSome(file)) return { kind: "file", path: resolve(file.value) } as const
    const env = yield* Common.env("SWARM_ADMIN_TOKEN")
    if (Option.isNone(env)) return undefined
    const token = env.value.trim()
    if (!tooShort(token)) return { kind: "env", token } as const
    return yield* usage(
      `SWARM_ADMIN_TOKEN is too short (${token.length} characters): use at least ${MIN_ADMIN_TOKEN}, for example $(openssl rand -hex 16)`
    )
  })

/** A file named on the command line that cannot be read or holds the wrong thing: exit 1 (it takes the file system). */
export const fileFailure = (reason: string) => new Common.RunFailure({ command: NAME, reason })

/** The admin token itself: the env var's, or the file's first line (read when the server starts). */
export const readAdminToken = (source: AdminTokenSource): Effect.Effect<string, Common.RunFailure> =>
  source.kind === "env"
    ? Effect.succeed(source.token)
    : Effect.try({
        // Small files read once at start: node:fs is loaded already, node:fs/promises would cost a load.
        try: () => readFileSync(source.path, "utf8"),
        catch: (error) =>
          fileFailure(
            `--admin-token-file ${JSON.stringify(source.path)}: cannot read it: ${(error as Error).message}`
          )
      }).pipe(
        Effect.flatMap((text) => {
          const token = text.split("\n")[0]!.trim()
          return tooShort(token)
            ? Effect.fail(
                fileFailure(
                  `--admin-token-file ${JSON.stringify(source.path)}: its first line holds ${token.length} characters; the admin token needs at least ${MIN_ADMIN_TOKEN} (for example openssl rand -hex 16 > file)`
                )
              )
            : Effect.succeed(token)
        })
      )

export const parse = (input: ServeInput): Effect.Effect<ServeConfig, Common.UsageError> =>
  Effect.gen(function* () {
    const { host, port } = yield* parseListen(input.listen)
    const dataDir = Option.isSome(input.dataDir) ? resolve(input.dataDir.value) : yield* defaultDataDir
    const store = yield* parseStore(input.store, dataDir, input.storeOpt ?? [])
    const ttls = yield* parseTtls(input)
    const bounds = yield* parseBounds(input)
    const tls = yield* parseTls(input)
    const recover = input.recover === true
    if (recover && store.kind !== "sqlite") {
      return yield* usage("--recover only applies to the SQLite store (sqlite://, the default)")
    }
    const admin = yield* parseAdmin(input.adminTokenFile)
    return {
      host,
      port,
      store,
      dataDir,
      ...ttls,
      ...bounds,
      recover,
      tls,
      ...(admin === undefined ? {} : { admin })
    }
  })
