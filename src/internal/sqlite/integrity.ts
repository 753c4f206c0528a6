/**
 * The SQLite store's integrity: a check when the file opens, and a recovery
 * that copies what is still readable into a fresh file.
 *
 * `PRAGMA quick_check` reads every page and checks the b-trees, without the
 * index-against-table cross-check of `integrity_check` (which costs several
 * times more); with 512 random bytes written into the middle of a file it
 * caught every trial here, either in its report or as SQLITE_CORRUPT.
 */
import { existsSync, renameSync, rmSync } from "node:fs"
import { Data } from "effect"
import Driver from "better-sqlite3"
import { SCHEMA, type Database } from "./statements.js"

/** The database file is damaged: the store refuses to open it. */
export class DatabaseDamaged extends Data.TaggedError("DatabaseDamaged")<{
  readonly filename: string
  /** What the check found (the first few problems). */
  readonly problems: ReadonlyArray<string>
  readonly cause?: unknown
}> {
  override get message(): string {
    return (
      `the database ${this.filename} is damaged (${this.problems.join("; ")}); it was not opened and nothing in ` +
      `it was changed. To start again with what is still readable, run the same swarm serve command with ` +
      `--recover (the damaged file is kept beside the new one, renamed), or restore the file from a backup`
    )
  }
}

const code = (cause: unknown): string | undefined => {
  const value = (cause as { code?: unknown } | undefined)?.code
  return typeof value === "string" ? value : undefined
}

/** Whether a driver error says the file is not a sound database. */
export const isDamage = (cause: unknown): boolean => /^SQLITE_(CORRUPT|NOTADB)/.test(code(cause) ?? "")

const oneLine = (text: string) =>
  text
    .replace(/\*\*\* in database main \*\*\*/g, "")
    .replace(/\s+/g, " ")
    .trim()

/** `quick_check`'s findings: none for a sound file. Throws what the driver throws. */
export const problems = (db: Database, max = 3): ReadonlyArray<string> => {
  const rows = db.pragma(`quick_check(${max})`, { simple: false }) as Array<{ quick_check: string }>
  const found = rows.map((r) => oneLine(r.quick_check)).filter((p) => p !== "ok")
  return found
}

export interface Recovery {
  /** Where the damaged file now is. */
  readonly aside: string
  /** Rows copied into the fresh file. */
  readonly recovered: number
  /** Keys the damaged file's expiry index names whose rows could not be read. */
  readonly unreadable: number
  /** Whether the whole index could be read, so that `unreadable` is exact rather than a lower bound. */
  readonly accounted: boolean
}

type Row = readonly [key: string, value: string, expiresAt: number | null]

/** Hands each row of `iterate` to `each` until it fails (a damaged page ends a scan, not the recovery); whether it got to the end. */
const scan = (iterate: () => Iterable<unknown>, each: (row: ReadonlyArray<unknown>) => void): boolean => {
  try {
    for (const row of iterate()) each(row as ReadonlyArray<unknown>)
    return true
  } catch {
    return false // The rest of this scan is unreadable: the other scans start elsewhere.
  }
}

const attempt = <A>(read: () => A): A | undefined => {
  try {
    return read()
  } catch {
    return undefined
  }
}

/**
 * Moves `filename` (and its WAL) aside as `<filename>.damaged-<time>`, and
 * writes what can be read from it into a fresh `filename`: a forward and a
 * backward scan of the table (each stops at a damaged page), then every key
 * the expiry index still lists, looked up one by one. Revisions restart
 * above any the damaged file may have handed out, so no watcher's index
 * goes back. Throws what the driver throws on the fresh file.
 */
export const recover = (filename: string, now: number): Recovery => {
  const aside = `${filename}.damaged-${new Date(now).toISOString().replace(/[:.]/g, "-")}`
  renameSync(filename, aside)
  for (const suffix of ["-wal", "-journal"]) {
    if (existsSync(filename + suffix)) renameSync(filename + suffix, aside + suffix)
  }
  rmSync(filename + "-shm", { force: true })

  const rows = new Map<string, Row>()
  const indexed = new Set<string>()
  let accounted = false
  let revision = 0
  let known = false
  const old = attempt(() => new Driver(aside, { readonly: true, fileMustExist: true }))
  if (old !== undefined) {
    const prepared = (sql: string) => attempt(() => old.prepare(sql).raw(true))
    const forward = prepared("SELECT key, value, expires_at FROM kv ORDER BY key")
    const backward = prepared("SELECT key, value, expires_at FROM kv ORDER BY key DESC")
    const keep = ([key, value, expiresAt]: ReadonlyArray<unknown>) => {
      if (typeof key === "string" && typeof value === "string") {
        rows.set(key, [key, value, typeof expiresAt === "number" ? expiresAt : null])
      }
    }
    for (const statement of [forward, backward]) if (statement) scan(() => statement.iterate(), keep)
    const index =
      "SELECT key FROM kv INDEXED BY kv_expires_at WHERE expires_at IS NOT NULL ORDER BY expires_at"
    const note = ([key]: ReadonlyArray<unknown>) => typeof key === "string" && indexed.add(key)
    const up = prepared(index)
    const down = prepared(`${index} DESC`)
    accounted = up !== undefined && scan(() => up.iterate(), note)
    if (!accounted && down !== undefined) scan(() => down.iterate(), note)
    const one = prepared("SELECT key, value, expires_at FROM kv WHERE key = ?")
    if (one !== undefined) for (const key of indexed) if (!rows.has(key)) scan(() => one.iterate(key), keep)
    // The root directory's row carries the latest revision, meta the rest: both must be readable.
    const revisions = ["SELECT max(value) FROM meta", "SELECT max(rev) FROM dirs"].map(
      (sql) => attempt(() => old.prepare(sql).pluck(true).get()) as number | null | undefined
    )
    known = revisions.every((r) => r !== undefined)
    for (const r of revisions) if (typeof r === "number" && r > revision) revision = r
    attempt(() => old.close())
  }
  // Unreadable revisions could be anything: a millisecond clock is above any count of changes made so far.
  const restart = (known ? revision : Math.max(revision, now)) + 1

  const fresh = new Driver(filename)
  try {
    fresh.pragma("journal_mode = WAL")
    fresh.exec(SCHEMA)
    const insert = fresh.prepare("INSERT OR REPLACE INTO kv (key, value, expires_at) VALUES (?, ?, ?)")
    const meta = fresh.prepare("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)")
    fresh.transaction(() => {
      for (const row of rows.values()) insert.run(...row)
      meta.run("revision", restart)
      meta.run("floor", restart)
    })()
  } finally {
    fresh.close()
  }
  let unreadable = 0
  for (const key of indexed) if (!rows.has(key)) unreadable++
  return { aside, recovered: rows.size, unreadable, accounted }
}
