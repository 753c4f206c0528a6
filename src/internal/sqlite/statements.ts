/** The SQLite store's schema and prepared statements. */
import type Driver from "better-sqlite3"

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at INTEGER) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kv_expires_at ON kv (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS dirs (dir TEXT PRIMARY KEY, rev INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
`

export type Database = InstanceType<typeof Driver>

export const prepare = (db: Database) => ({
  get: db.prepare("SELECT value, expires_at FROM kv WHERE key = ?"),
  upsert: db.prepare(
    "INSERT INTO kv (key, value, expires_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at"
  ),
  refresh: db.prepare("UPDATE kv SET expires_at = ? WHERE key = ?"),
  // Only a deadline moving later: cached snapshots stay valid (see Mirror's cache).
  refreshLive: db.prepare(
    "UPDATE kv SET expires_at = ? WHERE key = ? AND value = ? AND expires_at > ? AND expires_at <= ?"
  ),
  begin: db.prepare("BEGIN IMMEDIATE"),
  commit: db.prepare("COMMIT"),
  remove: db.prepare("DELETE FROM kv WHERE key = ? RETURNING expires_at"),
  removeRange: db.prepare("DELETE FROM kv WHERE key >= ? AND key < ? RETURNING key, expires_at").raw(true),
  removeAll: db.prepare("DELETE FROM kv RETURNING key, expires_at").raw(true),
  listRange: db
    .prepare(
      "SELECT key, value, expires_at FROM kv WHERE key >= ? AND key < ? AND (expires_at IS NULL OR expires_at > ?) ORDER BY key"
    )
    .raw(true),
  listAll: db
    .prepare("SELECT key, value, expires_at FROM kv WHERE expires_at IS NULL OR expires_at > ? ORDER BY key")
    .raw(true),
  countRange: db
    .prepare("SELECT count(*) FROM kv WHERE key >= ? AND key < ? AND (expires_at IS NULL OR expires_at > ?)")
    .pluck(true),
  countAll: db.prepare("SELECT count(*) FROM kv WHERE expires_at IS NULL OR expires_at > ?").pluck(true),
  anyRange: db.prepare("SELECT 1 FROM kv WHERE key >= ? AND key < ? LIMIT 1").pluck(true),
  rows: db.prepare("SELECT count(*) FROM kv").pluck(true),
  expired: db
    .prepare(
      "DELETE FROM kv WHERE key IN (SELECT key FROM kv WHERE expires_at <= ? ORDER BY expires_at LIMIT ?) RETURNING key"
    )
    .pluck(true),
  nextDeadline: db.prepare("SELECT min(expires_at) FROM kv WHERE expires_at IS NOT NULL").pluck(true),
  setDir: db.prepare(
    "INSERT INTO dirs (dir, rev) VALUES (?, ?) ON CONFLICT (dir) DO UPDATE SET rev = excluded.rev"
  ),
  dropDir: db.prepare("DELETE FROM dirs WHERE dir = ?"),
  allDirs: db.prepare("SELECT dir, rev FROM dirs").raw(true),
  getMeta: db.prepare("SELECT value FROM meta WHERE name = ?").pluck(true),
  setMeta: db.prepare(
    "INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value"
  )
})

export type Statements = ReturnType<typeof prepare>
