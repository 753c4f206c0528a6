/**
 * The server's settings: every default, the table of its global bounds, and `ServerConfig` (what the
 * handler runs with) resolved from the options a caller gives.
 *
 * A leaf: it imports nothing of the server, so `swarm` loads it at start (for the `serve` flags and
 * help) without loading the server.
 *
 * **Adding a bound** is one row in `BOUNDS`, for example
 *
 * ```ts
 * { key: "maxWatchedClusters", flag: "max-watched-clusters", default: 1_000, status: 503, retryAfter: 5,
 *   label: "watched_clusters", name: "clusters with long-polls",
 *   description: "Clusters with long-polls waiting at once; a long-poll on another one past it gets 503." }
 * ```
 *
 * From it follow: the `ServerConfig`/`ServerOptions` field (`key`), the `swarm serve` flag with its help
 * and default, the check that it is a whole number of at least 1, the refusal's status, `Retry-After` and
 * message, the `/metrics` series `swarm_discovery_bound_limit{bound=label}` and
 * `swarm_discovery_bound_refusals_total{bound=label}`, and the overview's row. What is left is the check
 * itself, where requests are admitted (`Admission.ts`, `Bounds.ts`).
 */
import { Duration } from "effect"

export const DEFAULT_HOST = "127.0.0.1"
export const DEFAULT_PORT = 8375
/** `swarm serve --listen`'s default. */
export const DEFAULT_LISTEN = `${DEFAULT_HOST}:${DEFAULT_PORT}`
/** The TTL of a registration that gives none. */
export const DEFAULT_TTL = Duration.seconds(180)
export const DEFAULT_MIN_TTL = Duration.seconds(1)
export const DEFAULT_MAX_TTL = Duration.hours(1)
/** Entries per cluster. */
export const DEFAULT_MAX_ENTRIES = 1000
/** Bytes of a request body. */
export const DEFAULT_MAX_BODY = 4096
/** The longest a long-poll may wait, whatever it asks. */
export const DEFAULT_MAX_WAIT = Duration.minutes(5)
/** A long-poll's wait when it gives `index` but no `wait`. */
export const DEFAULT_WAIT = Duration.seconds(30)

/** One global bound. */
export interface BoundRow {
  /** Its field in `ServerConfig` and `ServerOptions`. */
  readonly key: string
  /** The `swarm serve` flag, without `--`. */
  readonly flag: string
  readonly default: number
  /** The flag's help. */
  readonly description: string
  /** Its name in `/metrics` (`bound="..."`) and in the server's code. */
  readonly label: string
  /** Its name in the operator overview. */
  readonly name: string
  /** The refusal: 429 for rates and per-client shares, 503/507 for capacity. */
  readonly status: 429 | 503 | 507
  /** `Retry-After` in seconds; `"refill"`: when the client's token bucket holds one again. */
  readonly retryAfter: number | "refill"
}

/** The global bounds, in the order of the help, `/metrics` and the overview (docs/operations.md). */
export const BOUNDS = [
  {
    key: "maxTotalEntries",
    flag: "max-total-entries",
    default: 100_000,
    description: "Live entries over all clusters; a new entry past it gets 507. Refreshes always pass.",
    label: "total_entries",
    name: "live entries, all clusters",
    status: 507,
    retryAfter: 60
  },
  {
    key: "maxClusters",
    flag: "max-clusters",
    default: 10_000,
    description: "Clusters with entries; a new cluster past it gets 507.",
    label: "clusters",
    name: "clusters with entries",
    status: 507,
    retryAfter: 60
  },
  {
    key: "maxNewClustersPerMinute",
    flag: "max-new-clusters-per-minute",
    default: 60,
    description:
      "New clusters (first registration into an empty token, or POST /v1/clusters) per client address per minute; past it 429.",
    label: "new_clusters_per_minute",
    name: "new clusters per client address per minute",
    status: 429,
    retryAfter: "refill"
  },
  {
    key: "maxConnections",
    flag: "max-connections",
    default: 10_000,
    description: "Open client connections; one past it gets 503 and is closed.",
    label: "connections",
    name: "open connections",
    status: 503,
    retryAfter: 5
  },
  {
    key: "maxLongPolls",
    flag: "max-long-polls",
    default: 10_000,
    description: "Long-polls waiting at once; one past it gets 503.",
    label: "long_polls",
    name: "long-polls waiting",
    status: 503,
    retryAfter: 5
  },
  {
    key: "maxLongPollsPerClient",
    flag: "max-long-polls-per-client",
    default: 1_000,
    description: "Long-polls waiting at once from one client address; one past it gets 429.",
    label: "long_polls_per_client",
    name: "long-polls per client address",
    status: 429,
    retryAfter: 5
  }
] as const satisfies ReadonlyArray<BoundRow>

export type BoundKey = (typeof BOUNDS)[number]["key"]
/** A bound by its label (`total_entries`, ...). */
export type Bound = (typeof BOUNDS)[number]["label"]
export type BoundsConfig = { readonly [K in BoundKey]: number }

export const BOUND_DEFAULTS: BoundsConfig = Object.fromEntries(
  BOUNDS.map((row) => [row.key, row.default])
) as BoundsConfig

const byLabel: ReadonlyMap<string, (typeof BOUNDS)[number]> = new Map(BOUNDS.map((row) => [row.label, row]))

/** The row of a bound; a label that is none gives undefined. */
export const boundOf = (label: string): (typeof BOUNDS)[number] | undefined => byLabel.get(label)

export const limitOf = (config: BoundsConfig, bound: Bound): number => config[byLabel.get(bound)!.key]

/** The server's settings as a caller gives them; each one left out takes its default. */
export interface ConfigOptions extends Partial<BoundsConfig> {
  readonly defaultTtl?: Duration.DurationInput | undefined
  readonly minTtl?: Duration.DurationInput | undefined
  readonly maxTtl?: Duration.DurationInput | undefined
  readonly maxEntries?: number | undefined
  readonly maxBody?: number | undefined
  readonly maxWait?: Duration.DurationInput | undefined
}

/** The settings the server runs with; durations in milliseconds. */
export interface ServerConfig extends BoundsConfig {
  readonly defaultTtl: number
  readonly minTtl: number
  readonly maxTtl: number
  readonly maxEntries: number
  readonly maxBody: number
  readonly maxWait: number
}

const millis = (d: Duration.DurationInput | undefined, fallback: Duration.Duration) =>
  Duration.toMillis(Duration.decode(d ?? fallback))

export const resolveConfig = (options: ConfigOptions): ServerConfig => {
  const bounds = {} as { -readonly [K in BoundKey]: number }
  for (const row of BOUNDS) bounds[row.key] = options[row.key] ?? row.default
  return {
    defaultTtl: millis(options.defaultTtl, DEFAULT_TTL),
    minTtl: millis(options.minTtl, DEFAULT_MIN_TTL),
    maxTtl: millis(options.maxTtl, DEFAULT_MAX_TTL),
    maxEntries: options.maxEntries ?? DEFAULT_MAX_ENTRIES,
    maxBody: options.maxBody ?? DEFAULT_MAX_BODY,
    maxWait: millis(options.maxWait, DEFAULT_MAX_WAIT),
    ...bounds
  }
}
