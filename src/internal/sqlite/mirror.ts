/**
 * The SQLite store's in-memory mirror of its small tables (this process is
 * the only writer, thanks to the exclusive lock): each non-empty directory's
 * revision, the counters, and a cache of directory snapshots.
 *
 * A revision counter grows with every change and is written to each changed
 * key's directories, so a directory's index survives restarts and never goes
 * back. A directory is dropped (row and map entry) once it is empty, so the
 * mirror holds the live clusters, not every cluster ever seen; an unknown
 * directory reports `floor`, the highest revision of any dropped directory.
 */
import type { KvPair, KvSnapshot } from "../../KvStore.js"
import { ancestors, isDirectory, upperBound } from "./keys.js"
import type { Statements } from "./statements.js"

/** Snapshots kept at most; past it the cache starts over (it is only a cache). */
const CACHE_MAX = 10_000

export const make = (q: Statements) => {
  const dirs = new Map<string, number>()
  /**
   * Snapshots of directories, reused until the directory changes (`bump`
   * drops them) or one of their keys reaches its deadline: a list of a busy
   * cluster is then a Map lookup, and the server can reuse its JSON too.
   */
  const cache = new Map<string, { readonly snapshot: KvSnapshot; readonly validUntil: number }>()
  const state = { revision: 0, floor: 0, rows: 0, expirations: 0, expiryMillis: 0 }

  /** (Re)reads the mirror from the file: at open, and after a failed commit. */
  const load = () => {
    dirs.clear()
    cache.clear()
    for (const [dir, rev] of q.allDirs.all() as Array<[string, number]>) dirs.set(dir, rev)
    state.floor = (q.getMeta.get("floor") as number | undefined) ?? 0
    const saved = (q.getMeta.get("revision") as number | undefined) ?? 0
    state.revision = Math.max(dirs.get("") ?? 0, state.floor, saved)
    state.rows = q.rows.get() as number
  }

  const hasKeysUnder = (dir: string): boolean => q.anyRange.get(dir, upperBound(dir)) !== undefined

  /** One revision for a change to `keys`; inside a transaction. Returns the touched directories. */
  const bump = (keys: ReadonlyArray<string>, removed: boolean): Set<string> => {
    const touched = new Set<string>()
    for (const key of keys) ancestors(key, touched)
    for (const dir of touched) cache.delete(dir)
    const revision = ++state.revision
    let dropped = false
    for (const dir of touched) {
      if (removed && dir !== "" && !hasKeysUnder(dir)) {
        if (dirs.delete(dir)) q.dropDir.run(dir)
        dropped = true
      } else {
        q.setDir.run(dir, revision)
        dirs.set(dir, revision)
      }
    }
    if (dropped) {
      state.floor = revision
      q.setMeta.run("floor", revision)
    }
    if (!touched.has("")) q.setMeta.run("revision", revision)
    return touched
  }

  /** A deadline of `key` may have moved earlier: snapshots that counted on the old one go. */
  const forget = (key: string) => {
    const touched = new Set<string>()
    ancestors(key, touched)
    for (const dir of touched) cache.delete(dir)
  }

  const indexOf = (prefix: string): number =>
    isDirectory(prefix) ? (dirs.get(prefix) ?? state.floor) : state.revision

  const snapshot = (prefix: string, now: number): KvSnapshot => {
    const directory = isDirectory(prefix)
    if (directory) {
      const hit = cache.get(prefix)
      if (hit !== undefined && now < hit.validUntil) return hit.snapshot
    }
    const hi = upperBound(prefix)
    const raw = (hi === undefined ? q.listAll.all(now) : q.listRange.all(prefix, hi, now)) as Array<
      [string, string, number | null]
    >
    const pairs: Array<KvPair> = new Array(raw.length)
    let validUntil = Number.POSITIVE_INFINITY
    for (let i = 0; i < raw.length; i++) {
      const [key, value, expiresAt] = raw[i]!
      pairs[i] = { key, value }
      if (expiresAt !== null && expiresAt < validUntil) validUntil = expiresAt
    }
    const result = { pairs, index: indexOf(prefix) }
    if (directory) {
      if (cache.size >= CACHE_MAX) cache.clear()
      cache.set(prefix, { snapshot: result, validUntil })
    }
    return result
  }

  /** Each live key's deadline under `prefix` (uncached: a refresh moves a deadline without invalidating snapshots). */
  const expiries = (prefix: string, now: number): ReadonlyMap<string, number> => {
    const hi = upperBound(prefix)
    const raw = (hi === undefined ? q.listAll.all(now) : q.listRange.all(prefix, hi, now)) as Array<
      [string, string, number | null]
    >
    const out = new Map<string, number>()
    for (const [key, , expiresAt] of raw) if (expiresAt !== null) out.set(key, expiresAt)
    return out
  }

  /** Non-empty directories other than the root (for the server: clusters). */
  const directories = () => dirs.size - (dirs.has("") ? 1 : 0)

  load()
  return { state, load, bump, forget, snapshot, expiries, directories }
}

export type Mirror = ReturnType<typeof make>
