/**
 * `swarm serve` at run time: check the listen address, read the TLS and
 * admin-token files, open the store, start the server and print how to use
 * it. ServeConfig.ts parses and checks the flags; this module does what they
 * ask. Whatever fails here needs the file system or the network: exit 1.
 */
import { mkdirSync, readFileSync } from "node:fs"
import { createServer } from "node:net"
import { join } from "node:path"
import { Effect, Option } from "effect"
import * as Driver from "../internal/driver.js"
import * as GoDuration from "../GoDuration.js"
import * as ServerConfig from "../Server/Config.js"
import type { TlsOptions } from "../Server/Listen.js"
import * as Common from "./Common.js"
import * as ServeConfig from "./ServeConfig.js"
import { NAME, type ServeConfig as Config } from "./ServeConfig.js"

const readPem = (flag: string, path: string) =>
  Effect.try({
    // Small files read once at start: node:fs is loaded already, node:fs/promises would cost a load.
    try: () => readFileSync(path),
    catch: (error) =>
      ServeConfig.fileFailure(`${flag} ${JSON.stringify(path)}: cannot read it: ${(error as Error).message}`)
  })

/** The lines `npm start` shows: how to create, join and list a cluster on this server, and the console. */
export const instructions = (url: string, wildcard: boolean, admin = false): string => {
  const origin = url.replace(/\/v1$/, "")
  // The client's default service is this server's default address: the short forms work there.
  const short = url === "http://127.0.0.1:8375/v1"
  const create = short ? "npx swarm create" : `npx swarm create --url ${url}`
  const target = short ? "token://$TOKEN" : `token://${url}/$TOKEN`
  const lines = [
    `swarm discovery service ready at ${url}`,
    "",
    `  create a cluster:  TOKEN=$(${create})`,
    `  join it:           npx swarm join --advertise 10.0.0.1:2375 ${target}`,
    `  list it:           npx swarm list ${target}`,
    `  watch it:          npx swarm watch ${target}`,
    `  web console:       ${origin}/ui/clusters/$TOKEN`,
    admin
      ? `  operator overview: ${origin}/ui/ (asks for the admin token)`
      : "  operator overview: off (set SWARM_ADMIN_TOKEN or --admin-token-file to turn it on)",
    ""
  ]
  if (url.startsWith("https:"))
    lines.push("  (a private CA: add --discovery-opt token.cacert=/path/ca.pem to each command)", "")
  if (wildcard) lines.push("  (other machines use this machine's address instead of the loopback one)", "")
  return lines.join("\n")
}

/**
 * Binds the listen address once and lets it go, so a port in use or an address this machine lacks is
 * reported before the data directory is created or the store opened. The server binds it again for
 * real; should another process take it in between, that bind fails with the same message.
 */
export const checkListen = (host: string, port: number) =>
  Effect.flatMap(
    Effect.promise(() => import("../Server/Listen.js")),
    (Listen) =>
      Effect.async<void, InstanceType<typeof Listen.ListenError>>((resume) => {
        const probe = createServer()
        probe.once("error", (error: NodeJS.ErrnoException) =>
          resume(
            Effect.fail(
              new Listen.ListenError({
                address: `${Listen.hostForUrl(host)}:${port}`,
                reason: Listen.explain(error),
                cause: error
              })
            )
          )
        )
        probe.listen({ host, port, exclusive: true }, () => probe.close(() => resume(Effect.void)))
      })
  )

/** The TLS files, read now: a missing or unreadable one is exit 1. */
const readTls = (config: Config): Effect.Effect<TlsOptions | undefined, Common.RunFailure> =>
  Option.match(config.tls, {
    onNone: () => Effect.succeed(undefined),
    onSome: (tls) =>
      Effect.all({
        cert: readPem("--tlscert", tls.cert),
        key: readPem("--tlskey", tls.key),
        ca: Option.match(tls.ca, {
          onNone: () => Effect.succeed(undefined),
          onSome: (ca) => readPem("--tlscacert", ca)
        }),
        verify: Effect.succeed(tls.verify)
      })
  })

/** The start-up log line: where, how, which store, the TTL range and every bound. */
const describe = (config: Config, port: number, tls: TlsOptions | undefined, store: string): string =>
  `listening on ${config.host.includes(":") ? `[${config.host}]` : config.host}:${port} ` +
  `(${tls === undefined ? "http" : tls.verify ? "https, client certificates required" : "https"}); ` +
  `store: ${store}; ttl ${GoDuration.format(config.defaultTtl)} in [${GoDuration.format(config.minTtl)}, ${GoDuration.format(config.maxTtl)}]; ` +
  `max ${config.maxEntries} entries per cluster; ` +
  ServerConfig.BOUNDS.map((row) => `--${row.flag} ${config.bounds[row.key]}`).join(", ")

export const run = (config: Config) =>
  Effect.scoped(
    Effect.gen(function* () {
      yield* checkListen(config.host, config.port)
      const Server = yield* Effect.promise(() => import("../Server/Server.js"))
      const tls = yield* readTls(config)
      const adminToken =
        config.admin === undefined ? undefined : yield* ServeConfig.readAdminToken(config.admin)
      const { description, ...opened } = yield* openStore(config)
      yield* Effect.addFinalizer(() => Effect.logInfo(`stopped; ${description} closed`))
      const listening = yield* Server.listen({
        host: config.host,
        port: config.port,
        tls,
        ...opened,
        defaultTtl: config.defaultTtl,
        minTtl: config.minTtl,
        maxTtl: config.maxTtl,
        maxEntries: config.maxEntries,
        ...config.bounds,
        adminToken
      })
      yield* Effect.addFinalizer(() =>
        Effect.logInfo(
          "shutting down: no new connections; answering long-polls and finishing requests in flight"
        )
      )
      yield* Effect.logInfo(describe(config, listening.port, tls, description))
      const wildcard = config.host === "0.0.0.0" || config.host === "::"
      // Plain text on stderr, not a log line: it is meant to be copied.
      yield* Effect.sync(() =>
        process.stderr.write(`\n${instructions(listening.url, wildcard, adminToken !== undefined)}\n`)
      )
      return yield* Effect.never
    })
  )

/** The etcd store of an HA group: its lease mode checked against the prefix's before the instance starts. */
const openEtcd = (store: Extract<Config["store"], { readonly kind: "etcd" }>) =>
  Effect.gen(function* () {
    const { endpoints, prefix, tls, leases, compaction } = store
    // An internal module: its static import of etcd3 is bundled, and loaded only here.
    const Etcd = yield* Driver.load("etcd3", "the etcd store", () => import("../KvStore/Etcd.js"))
    const kv = yield* Etcd.make({
      endpoints,
      prefix,
      ...(tls ? { tls } : {}),
      leases,
      ...(compaction ? { compaction } : {})
    }).pipe(
      Effect.mapError(
        (error) =>
          new Common.RunFailure({
            command: NAME,
            reason: `the etcd store at ${endpoints.join(",")} cannot open: ${error.message}`
          })
      )
    )
    // An instance with another lease mode than the one recorded for the prefix must not start; when etcd does
    // not answer within 2s, start anyway: the first registration claims it (internal/etcd/leaseModeRecord.ts).
    yield* kv
      .within(2000)(kv.claimLeaseMode)
      .pipe(
        Effect.catchAll((error) =>
          error.reason === "Invalid"
            ? new Common.RunFailure({ command: NAME, reason: `--store etcd://…: ${error.detail}` })
            : Effect.logWarning(
                `the lease mode is not recorded yet (${error.message}): the first registration records it`
              )
        )
      )
    // Count the totals now, for the bounds and /metrics, and start their watch: it also spares heartbeats
    // a read of their key (internal/etcd/followed.ts). A failure here is the first asker's to report.
    yield* Effect.forkScoped(Effect.ignore(kv.stats))
    return {
      store: kv,
      stats: kv.stats,
      description:
        `etcd ${endpoints.join(",")}${prefix === "" ? "" : `/${prefix}`} (${tls ? "TLS, " : ""}` +
        `${leases === "shared" ? "leases shared by time" : "one lease per entry"}` +
        `${compaction ? `, history compacted every ${GoDuration.format(compaction)}` : ""})`
    }
  })

const openStore = (config: Config) =>
  Effect.gen(function* () {
    if (config.store.kind === "memory") {
      const Memory = yield* Effect.promise(() => import("../KvStore/Memory.js"))
      const store = Memory.unsafeMake()
      return {
        store,
        stats: store.stats,
        description: "memory (nothing survives a restart)"
      }
    }
    if (config.store.kind === "etcd") return yield* openEtcd(config.store)
    const { file, synchronous } = config.store
    yield* Effect.try({
      try: () => mkdirSync(join(file, ".."), { recursive: true, mode: 0o700 }),
      catch: (error) =>
        new Common.RunFailure({
          command: NAME,
          reason: `cannot create the data directory for ${file}: ${(error as Error).message}`
        })
    })
    const Sqlite = yield* Driver.load(
      "better-sqlite3",
      "the SQLite store (the default; --store memory:// needs no driver)",
      () => import("../KvStore/Sqlite.js"),
      (error) =>
        new Common.RunFailure({
          command: NAME,
          reason: `the SQLite store cannot load (better-sqlite3 is a native module: reinstall with npm ci, or use --store memory://): ${(error as Error).message}`
        })
    )
    if (config.recover) {
      const recovery = yield* Sqlite.recover(file)
      yield* Option.match(recovery, {
        onNone: () => Effect.logInfo(`--recover: ${file} is sound; nothing to recover`),
        onSome: ({ accounted, aside, recovered, unreadable }) =>
          Effect.logWarning(
            `--recover: ${file} was damaged; ${recovered} entries copied into a fresh file; ` +
              (accounted && unreadable === 0
                ? "none was lost; "
                : `${unreadable}${accounted ? "" : " or more"} could not be read (those nodes register again at their next heartbeat); `) +
              `the damaged file is kept as ${aside}`
          )
      })
    }
    const store = yield* Sqlite.make({ filename: file, synchronous })
    return {
      store,
      stats: store.stats,
      early: { store: store.early, whenDurable: store.whenDurable },
      description: `sqlite ${file} (WAL, synchronous=${synchronous})`
    }
  })
