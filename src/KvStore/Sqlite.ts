/**
 * A durable `KvStore` in one SQLite file: the discovery server's default.
 *
 * - **Durability.** WAL journal. Every write is committed before it returns,
 *   so an acknowledged registration survives `kill -9`; the writes of one
 *   event-loop turn share a commit (`internal/sqlite/commits.ts`).
 *   `synchronous=NORMAL` (the default) skips the fsync at commit: a *process*
 *   crash loses nothing (the WAL is in the OS page cache), a power cut may
 *   lose the last transactions. `synchronous: "full"` fsyncs every commit.
 * - **One owner.** The file is locked exclusively while open
 *   (`locking_mode=EXCLUSIVE`), so a second server on the same data directory
 *   fails at start instead of missing the first one's notifications.
 * - **Integrity.** `PRAGMA quick_check` runs at open; a damaged file fails
 *   with `DatabaseDamaged` and is left as it is. `recover` sets it aside and
 *   copies what is readable into a fresh file (`swarm serve --recover`).
 * - **Expiry proportional to what expires.** `expires_at` is indexed; one
 *   scoped fiber sleeps on Effect's `Clock` until the next deadline and
 *   deletes what is due in bounded batches. Reads also filter
 *   `expires_at > now`, so they are exact at the boundary even before the
 *   sweeper has run (and `TestClock` drives all of it).
 * - **Index.** Per directory, persisted, never going back; empty directories
 *   are dropped (`internal/sqlite/mirror.ts`).
 * - **Watch** is in-process: commits wake the watchers of the directories
 *   they touched (every writer is in this process, thanks to the lock).
 *
 * better-sqlite3 directly rather than @effect/sql: measured here, a register
 * transaction through @effect/sql-sqlite-node ran at ~3k/s against ~32k/s
 * with prepared better-sqlite3 statements, and a 100-row list at half speed.
 * It is a native module: `swarm serve` imports this file lazily, so other
 * commands never load it (and the CLI bundle keeps it external).
 */
import { existsSync } from "node:fs"
import { Clock, Config, type ConfigError, Effect, Either, Layer, Option, type Scope } from "effect"
import { KvError, type KvSnapshot, KvStore, type KvStoreShape, type PutOptions } from "../KvStore.js"
import * as Commits from "../internal/sqlite/commits.js"
import { DatabaseDamaged, recover as recoverFile, type Recovery } from "../internal/sqlite/integrity.js"
import * as Mirror from "../internal/sqlite/mirror.js"
import { describe, open, STORE, unavailable, whereOf } from "../internal/sqlite/open.js"
import { prepare } from "../internal/sqlite/statements.js"
import * as Sweeper from "../internal/sqlite/sweeper.js"
import * as Watchers from "../internal/sqlite/watchers.js"
import * as Writes from "../internal/sqlite/writes.js"

export { atOnce, nextTurn, type ScheduleCommit } from "../internal/sqlite/commits.js"
export { DatabaseDamaged, type Recovery } from "../internal/sqlite/integrity.js"

export interface SqliteConfig {
  /** A file path (created if missing) or `:memory:`. */
  readonly filename: string
  /** `normal` (default): safe against process crashes; `full`: also against power loss, slower. */
  readonly synchronous?: "normal" | "full" | undefined
  /** Keys expired per sweeper transaction. Default 1000. */
  readonly sweepBatch?: number | undefined
  /** When writes commit. Default `nextTurn` (group commit); `atOnce` makes tests under `TestClock` deterministic. */
  readonly scheduleCommit?: Commits.ScheduleCommit | undefined
}

export interface SqliteStats {
  /** Rows held (live keys, plus any expired ones the sweeper has not reached yet). */
  readonly entries: number
  /** Non-empty directories other than the root (for the server: clusters). */
  readonly clusters: number
  /** Keys removed because their TTL ran out, since the store opened. */
  readonly expirations: number
  /** Wall time the sweeper spent deleting expired keys (its transactions' work, not the commits). */
  readonly expirySeconds: number
  readonly revision: number
}

export interface SqliteKvStore extends KvStoreShape {
  readonly filename: string
  readonly stats: Effect.Effect<SqliteStats>
  /**
   * The same store, except that its writes succeed as soon as they are
   * applied, before their transaction commits. Only for callers that wait on
   * `whenDurable` before they tell anyone (the discovery server answers its
   * clients that way: a turn's registrations then cost one commit and no
   * fiber suspension). Reads through either view see applied writes.
   */
  readonly early: KvStoreShape
  /** Calls back once every write applied so far is committed, or with the error that stopped it. */
  readonly whenDurable: (callback: (error: KvError | undefined) => void) => void
}

export const make = (
  options: SqliteConfig
): Effect.Effect<SqliteKvStore, KvError | DatabaseDamaged, Scope.Scope> =>
  Effect.gen(function* () {
    const where = whereOf(options.filename)
    const failure = unavailable(options.filename)
    const db = yield* open(options)
    const q = prepare(db)
    const mirror = Mirror.make(q)
    const watchers = Watchers.make()
    let closed: KvError | undefined
    const commits = Commits.make({
      q,
      schedule: options.scheduleCommit ?? Commits.nextTurn,
      closed: () => closed,
      failure,
      committed: watchers.committed,
      rollback: () => Either.try(() => db.exec("ROLLBACK")), // SQLite may have rolled back already.
      rolledBack: mirror.load
    })
    const writes = Writes.make(db, q, mirror, STORE)

    const read = <A>(f: (now: number) => A): Effect.Effect<A, KvError> =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        if (closed !== undefined) return Effect.fail(closed)
        try {
          return Effect.succeed(f(now))
        } catch (cause) {
          return Effect.fail(failure("cannot read", cause))
        }
      })
    const list = (prefix: string): Effect.Effect<KvSnapshot, KvError> =>
      read((now) => mirror.snapshot(prefix, now))

    const sweepBatch = options.sweepBatch ?? 1000
    const sweeper = Sweeper.make({
      batch: sweepBatch,
      sweep: (now) => commits.durable("cannot expire keys in", () => writes.expire(now, sweepBatch)),
      nextDeadline: read(() => (q.nextDeadline.get() as number | null) ?? undefined)
    })
    yield* Effect.forkScoped(sweeper.run)

    // On close: commit what is applied, refuse further work, and release every watcher (they then fail "closed").
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        commits.commit()
        closed = new KvError({ store: STORE, reason: "Unavailable", detail: `the store ${where} is closed` })
        watchers.wakeAll()
      })
    )

    const view = (writer: Commits.Writer): KvStoreShape => ({
      put: (key: string, value: string, putOptions?: PutOptions) =>
        writer("cannot write to", writes.put(key, value, putOptions, sweeper.plan)),
      delete: (key) => writer("cannot write to", (now) => writes.remove(now, key)),
      deletePrefix: (prefix) => writer("cannot write to", (now) => writes.removePrefix(now, prefix)),
      list,
      watch: (prefix) => watchers.watch(prefix, list),
      expiries: (prefix) => read((now) => mirror.expiries(prefix, now))
    })
    const { state } = mirror
    return {
      ...view(commits.durable),
      filename: options.filename,
      stats: Effect.sync(() => ({
        entries: state.rows,
        clusters: mirror.directories(),
        expirations: state.expirations,
        expirySeconds: state.expiryMillis / 1000,
        revision: state.revision
      })),
      early: view(commits.early),
      whenDurable: commits.whenDurable
    }
  })

export const layer = (config: SqliteConfig): Layer.Layer<KvStore, KvError | DatabaseDamaged> =>
  Layer.scoped(KvStore, make(config))

/** `layer` from `Config`, in the style of `SqliteClient.layerConfig`. */
export const layerConfig = (
  config: Config.Config.Wrap<SqliteConfig>
): Layer.Layer<KvStore, KvError | DatabaseDamaged | ConfigError.ConfigError> =>
  Layer.scoped(KvStore, Effect.flatMap(Config.unwrap(config), make))

/**
 * Checks `filename` and, if it is damaged, moves it aside and copies what is
 * readable into a fresh file there. None when there is nothing to recover
 * (no file, or a sound one). Fails if the file is in use.
 */
export const recover = (filename: string): Effect.Effect<Option.Option<Recovery>, KvError> =>
  Effect.gen(function* () {
    if (!existsSync(filename)) return Option.none()
    const sound = yield* Effect.scoped(open({ filename })).pipe(
      Effect.as(true),
      Effect.catchTag("DatabaseDamaged", () => Effect.succeed(false))
    )
    if (sound) return Option.none()
    const now = yield* Clock.currentTimeMillis
    return yield* Effect.try({
      try: () => Option.some(recoverFile(filename, now)),
      catch: (cause) =>
        new KvError({
          store: STORE,
          reason: "Unavailable",
          detail: `cannot recover ${filename}: ${describe(cause)}`,
          cause
        })
    })
  })
