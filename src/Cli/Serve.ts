/**
 * `swarm serve`: the token discovery server (Docker Hub's v1 API plus
 * long-poll watches, per-entry delete, /healthz and /metrics).
 *
 * The server and the SQLite driver (a native module) are imported only
 * when this command runs, so the other commands start without them; the
 * etcd client only with `--store etcd://`.
 */
import { Command, Options } from "@effect/cli"
import { Duration, Effect } from "effect"
import * as ServerConfig from "../Server/Config.js"
import * as Common from "./Common.js"
import { NAME, parse } from "./ServeConfig.js"

/** One `--max-*` option per row of the server's bounds table: a new row is a new flag, with its help and default. */
const bounds = Object.fromEntries(
  ServerConfig.BOUNDS.map((row) => [
    row.key,
    Options.integer(row.flag).pipe(Options.withDescription(row.description), Options.withDefault(row.default))
  ])
) as { readonly [K in ServerConfig.BoundKey]: Options.Options<number> }

const options = {
  listen: Options.text("listen").pipe(
    Options.withPseudoName("host:port"),
    Options.withDescription("Address to listen on: host:port, [::1]:port, or :port for every interface."),
    Options.withDefault(ServerConfig.DEFAULT_LISTEN)
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
      "A store option for etcd://: kv.cacertfile=/ca.pem, kv.certfile=/cert.pem, kv.keyfile=/key.pem (TLS to etcd); kv.leases=shared|per-key (leases shared by time, the default, or one lease per entry); kv.compaction=5m|off (how often the instances compact etcd's history; default 5m with shared leases)."
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
    default: ServerConfig.DEFAULT_TTL
  }),
  minTtl: Common.goDuration("min-ttl", "Smaller TTLs are raised to this.", {
    default: ServerConfig.DEFAULT_MIN_TTL,
    min: Duration.zero,
    exclusive: true
  }),
  maxTtl: Common.goDuration("max-ttl", "Larger TTLs are lowered to this.", {
    default: ServerConfig.DEFAULT_MAX_TTL
  }),
  maxEntries: Options.integer("max-entries").pipe(
    Options.withDescription("Entries per cluster; a registration past it gets 409. Refreshes always pass."),
    Options.withDefault(ServerConfig.DEFAULT_MAX_ENTRIES)
  ),
  bounds,
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
  Effect.flatMap(parse(input), (config) =>
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
