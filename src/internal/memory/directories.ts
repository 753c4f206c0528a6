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
import { byKey } from "../kvPairs.js"

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

export interface Lookup {
  readonly value: (key: string) => string
  /** Epoch millis, or undefined for no TTL. */
  readonly expiresAt: (key: string) => number | undefined
}

/** The directories and the counters they share. */
interface Tree {
  readonly dirs: Map<string, Directory>
  revision: number
  /** The highest index any dropped directory had. */
  floor: number
  /** Directories other than the root that hold a key. */
  nonEmpty: number
}

/** The directories enclosing `key`, innermost first, the root `""` last. */
const enclosing = function* (key: string): Generator<string> {
  for (let path = directoryOf(key); ; path = directoryOf(path.slice(0, -1))) {
    yield path
    if (path === "") return
  }
}

/** The earliest deadline of `keys`, or +Infinity when none has a TTL. */
const earliestExpiry = (keys: Iterable<string>, lookup: Lookup): number => {
  let validUntil = Number.POSITIVE_INFINITY
  for (const key of keys) {
    const at = lookup.expiresAt(key)
    if (at !== undefined && at < validUntil) validUntil = at
  }
  return validUntil
}

/** The directory at `path`, created (at the floor index) if missing. */
const held = (tree: Tree, path: string): Directory => {
  let dir = tree.dirs.get(path)
  if (dir === undefined) {
    dir = {
      keys: new Set(),
      index: tree.floor,
      snapshot: undefined,
      validUntil: Number.NEGATIVE_INFINITY,
      watchers: 0,
      signal: undefined
    }
    tree.dirs.set(path, dir)
  }
  return dir
}

const dropIfIdle = (tree: Tree, path: string, dir: Directory) => {
  if (dir.keys.size === 0 && dir.watchers === 0) {
    tree.dirs.delete(path)
    if (dir.index > tree.floor) tree.floor = dir.index
  }
}

/** Changes and holds: what moves indexes, deadlines and watcher counts. */
const changes = (tree: Tree) => {
  /** Records a change to `key` (added, removed, or a new value) in every enclosing directory. */
  const touch = (key: string, membership: "Added" | "Removed" | "Changed"): void => {
    tree.revision++
    for (const path of enclosing(key)) {
      const dir = held(tree, path)
      if (membership === "Added") {
        dir.keys.add(key)
        if (dir.keys.size === 1 && path !== "") tree.nonEmpty++
      } else if (membership === "Removed") {
        dir.keys.delete(key)
        if (dir.keys.size === 0 && path !== "") tree.nonEmpty--
      }
      dir.index = tree.revision
      dir.snapshot = undefined
      dir.signal?.unsafeNotify()
      if (membership === "Removed") dropIfIdle(tree, path, dir)
    }
  }

  /** A deadline of `key` moved earlier: cached deadlines that promised later go, and sleeping watchers re-plan. */
  const earlier = (key: string, at: number): void => {
    for (const path of enclosing(key)) {
      const dir = tree.dirs.get(path)
      if (dir !== undefined && dir.validUntil > at) {
        dir.validUntil = at
        dir.signal?.unsafeNotify()
      }
    }
  }

  /** Holds a directory for a watcher; returns it and its release. */
  const watch = (path: string): { readonly dir: Directory; readonly release: () => void } => {
    const dir = held(tree, path)
    dir.watchers++
    dir.signal ??= ChangeSignal.make()
    return {
      dir,
      release: () => {
        dir.watchers--
        if (tree.dirs.get(path) === dir) dropIfIdle(tree, path, dir)
      }
    }
  }

  return { touch, earlier, watch }
}

/** Reads: keys, counts, sorted snapshots (cached per change) and deadlines. */
const reads = (tree: Tree, lookup: Lookup) => {
  /** Every key under `prefix` (a copy, safe to delete from while iterating). */
  const keysUnder = (prefix: string): Array<string> => {
    const dir = tree.dirs.get(baseOf(prefix))
    if (dir === undefined) return []
    const all = [...dir.keys]
    return isDirectory(prefix) ? all : all.filter((k) => k.startsWith(prefix))
  }

  const count = (prefix: string): number => {
    if (!isDirectory(prefix)) return keysUnder(prefix).length
    return tree.dirs.get(prefix)?.keys.size ?? 0
  }

  /** The sorted snapshot of a directory, built once per change. */
  const directorySnapshot = (path: string): KvSnapshot => {
    const dir = tree.dirs.get(path)
    if (dir === undefined) return { pairs: [], index: tree.floor }
    if (dir.snapshot === undefined) {
      // One pass for the pairs and their earliest deadline.
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
    const dir = tree.dirs.get(path)
    if (dir === undefined) return Number.POSITIVE_INFINITY
    if (dir.validUntil <= now) dir.validUntil = earliestExpiry(dir.keys, lookup)
    return dir.validUntil
  }

  return { keysUnder, count, snapshot, nextDeadline }
}

export const make = (lookup: Lookup) => {
  const tree: Tree = { dirs: new Map(), revision: 0, floor: 0, nonEmpty: 0 }
  return {
    ...changes(tree),
    ...reads(tree, lookup),
    /** Directories held (non-empty or watched), the root included. */
    size: () => tree.dirs.size,
    nonEmpty: () => tree.nonEmpty
  }
}
