/**
 * The memory store's directories: for each one that holds a key (or has a
 * watcher), the keys under it, its change index, a sorted snapshot cached
 * until the next change, and the change signal its watchers wait on.
 *
 * A key belongs to every enclosing directory (`a/b/c` to `a/b/`, `a/` and
 * the root `""`), so a list or a count of a directory never scans other
 * directories. An empty directory without watchers is dropped; an unknown
 * one reports `floor`, the highest index any dropped directory had, so no
 * directory's index ever goes back.
 */
import type { KvPair, KvSnapshot } from "../../KvStore.js"
import * as ChangeSignal from "../changeSignal.js"

export interface Directory {
  readonly keys: Set<string>
  index: number
  snapshot: KvSnapshot | undefined
  /** No key under the directory expires before this (it may be earlier than the truth; never later). */
  validUntil: number
  watchers: number
  signal: ChangeSignal.ChangeSignal | undefined
}

export const directoryOf = (key: string): string => key.slice(0, key.lastIndexOf("/") + 1)

export const isDirectory = (prefix: string): boolean => prefix === "" || prefix.endsWith("/")

/** The directory a prefix lives in: itself, or the one holding a partial name. */
export const baseOf = (prefix: string): string => (isDirectory(prefix) ? prefix : directoryOf(prefix))

const byKey = (a: KvPair, b: KvPair) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)

export interface Lookup {
  readonly value: (key: string) => string
  /** Epoch millis, or undefined for no TTL. */
  readonly expiresAt: (key: string) => number | undefined
}

export const make = (lookup: Lookup) => {
  const dirs = new Map<string, Directory>()
  let revision = 0
  let floor = 0
  /** Directories other than the root that hold a key. */
  let nonEmpty = 0

  const fresh = (): Directory => ({
    keys: new Set(),
    index: floor,
    snapshot: undefined,
    validUntil: Number.NEGATIVE_INFINITY,
    watchers: 0,
    signal: undefined
  })

  const dropIfIdle = (path: string, dir: Directory) => {
    if (dir.keys.size === 0 && dir.watchers === 0) {
      dirs.delete(path)
      if (dir.index > floor) floor = dir.index
    }
  }

  /** Records a change to `key` (added, removed, or a new value) in every enclosing directory. */
  const touch = (key: string, membership: "Added" | "Removed" | "Changed"): void => {
    revision++
    for (let path = directoryOf(key); ; path = directoryOf(path.slice(0, -1))) {
      let dir = dirs.get(path)
      if (dir === undefined) {
        dir = fresh()
        dirs.set(path, dir)
      }
      if (membership === "Added") {
        dir.keys.add(key)
        if (dir.keys.size === 1 && path !== "") nonEmpty++
      } else if (membership === "Removed") {
        dir.keys.delete(key)
        if (dir.keys.size === 0 && path !== "") nonEmpty--
      }
      dir.index = revision
      dir.snapshot = undefined
      dir.signal?.unsafeNotify()
      if (membership === "Removed") dropIfIdle(path, dir)
      if (path === "") break
    }
  }

  /** A deadline of `key` moved earlier: cached deadlines that promised later go, and sleeping watchers re-plan. */
  const earlier = (key: string, at: number): void => {
    for (let path = directoryOf(key); ; path = directoryOf(path.slice(0, -1))) {
      const dir = dirs.get(path)
      if (dir !== undefined && dir.validUntil > at) {
        dir.validUntil = at
        dir.signal?.unsafeNotify()
      }
      if (path === "") break
    }
  }

  /** Every key under `prefix` (a copy, safe to delete from while iterating). */
  const keysUnder = (prefix: string): Array<string> => {
    const dir = dirs.get(baseOf(prefix))
    if (dir === undefined) return []
    const all = [...dir.keys]
    return isDirectory(prefix) ? all : all.filter((k) => k.startsWith(prefix))
  }

  const count = (prefix: string): number => {
    if (!isDirectory(prefix)) return keysUnder(prefix).length
    return dirs.get(prefix)?.keys.size ?? 0
  }

  /** The sorted snapshot of a directory, built once per change. */
  const directorySnapshot = (path: string): KvSnapshot => {
    const dir = dirs.get(path)
    if (dir === undefined) return { pairs: [], index: floor }
    if (dir.snapshot === undefined) {
      const pairs: Array<KvPair> = []
      let validUntil = Number.POSITIVE_INFINITY
      for (const key of dir.keys) {
        pairs.push({ key, value: lookup.value(key) })
        const at = lookup.expiresAt(key)
        if (at !== undefined && at < validUntil) validUntil = at
      }
      pairs.sort(byKey)
      dir.snapshot = { pairs, index: dir.index }
      dir.validUntil = validUntil
    }
    return dir.snapshot
  }

  const snapshot = (prefix: string): KvSnapshot => {
    const base = directorySnapshot(baseOf(prefix))
    if (isDirectory(prefix)) return base
    return { pairs: base.pairs.filter((p) => p.key.startsWith(prefix)), index: base.index }
  }

  /**
   * When a watcher of `path` should look again even if nothing changed: the
   * earliest deadline under it. Refreshes move deadlines later without telling
   * anyone, so a passed estimate is recomputed (one pass over the directory).
   */
  const nextDeadline = (path: string, now: number): number => {
    const dir = dirs.get(path)
    if (dir === undefined) return Number.POSITIVE_INFINITY
    if (dir.validUntil <= now) {
      let validUntil = Number.POSITIVE_INFINITY
      for (const key of dir.keys) {
        const at = lookup.expiresAt(key)
        if (at !== undefined && at < validUntil) validUntil = at
      }
      dir.validUntil = validUntil
    }
    return dir.validUntil
  }

  /** Holds a directory for a watcher; returns it and its release. */
  const watch = (path: string): { readonly dir: Directory; readonly release: () => void } => {
    let dir = dirs.get(path)
    if (dir === undefined) {
      dir = fresh()
      dirs.set(path, dir)
    }
    dir.watchers++
    dir.signal ??= ChangeSignal.make()
    const held = dir
    return {
      dir: held,
      release: () => {
        held.watchers--
        if (dirs.get(path) === held) dropIfIdle(path, held)
      }
    }
  }

  return {
    touch,
    earlier,
    keysUnder,
    count,
    snapshot,
    nextDeadline,
    watch,
    /** Directories held (non-empty or watched), the root included. */
    size: () => dirs.size,
    nonEmpty: () => nonEmpty
  }
}
