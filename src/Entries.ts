/**
 * A set of entries. Duplicates collapse, order does not matter for equality,
 * and `diff` runs in O(n) (Swarm classic's was quadratic and order-sensitive).
 *
 * Pure model: no I/O.
 */
import { Either } from "effect"
import * as Entry from "./Entry.js"

/** A deduplicated list of entries, sorted by their printed form so output is stable. */
export type Entries = ReadonlyArray<Entry.Entry>

export interface Diff {
  readonly added: Entries
  readonly removed: Entries
}

export const empty: Entries = []

/** Normalises any list of entries: drops duplicates and sorts by `host:port`. */
export const fromIterable = (entries: Iterable<Entry.Entry>): Entries => {
  const keyed = new Map<string, Entry.Entry>()
  for (const entry of entries) keyed.set(Entry.format(entry), entry)
  return [...keyed.keys()].sort().map((key) => keyed.get(key)!)
}

/** Parses a list of `host:port` strings; fails on the first bad one. */
export const parseAll = (inputs: Iterable<string>): Either.Either<Entries, Entry.InvalidEntry> => {
  const out: Array<Entry.Entry> = []
  for (const input of inputs) {
    const parsed = Entry.parse(input)
    if (Either.isLeft(parsed)) return Either.left(parsed.left)
    out.push(parsed.right)
  }
  return Either.right(fromIterable(out))
}

const keySet = (entries: Entries): Set<string> => new Set(entries.map(Entry.format))

/** Set equality: same members, in any order. */
export const equals = (a: Entries, b: Entries): boolean => {
  const left = keySet(a)
  const right = keySet(b)
  if (left.size !== right.size) return false
  for (const key of left) if (!right.has(key)) return false
  return true
}

/**
 * host → port (or ports). Keyed by the entries' own host strings, whose hashes
 * V8 caches, so no string is built per lookup; one port is stored bare, the
 * common case, to save a Set per host.
 */
interface Index {
  readonly ports: Map<string, number | Set<number>>
  /** How many distinct entries went in. */
  size: number
}

const add = (index: Index, { host, port }: Entry.Entry): void => {
  const current = index.ports.get(host)
  if (current === undefined) index.ports.set(host, port)
  else if (typeof current === "number") {
    if (current !== port) index.ports.set(host, new Set([current, port]))
    else return
  } else if (!current.has(port)) current.add(port)
  else return
  index.size++
}

const has = (index: Index, { host, port }: Entry.Entry): boolean => {
  const current = index.ports.get(host)
  return current === port || (typeof current === "object" && current.has(port))
}

const indexOf = (entries: Entries): Index => {
  const index: Index = { ports: new Map(), size: 0 }
  for (const entry of entries) add(index, entry)
  return index
}

/** Members of `entries` missing from `other`, each once. */
const missingFrom = (entries: Entries, own: Index, other: Index): Array<Entry.Entry> => {
  const out: Array<Entry.Entry> = []
  // Only a list with repeats needs to remember what it already reported.
  const seen: Index | undefined = own.size === entries.length ? undefined : { ports: new Map(), size: 0 }
  for (const entry of entries) {
    if (has(other, entry)) continue
    if (seen !== undefined) {
      if (has(seen, entry)) continue
      add(seen, entry)
    }
    out.push(entry)
  }
  return out
}

/** What changed from `previous` to `next`, in O(n), in any order; each entry appears once even if an input repeats it. */
export const diff = (previous: Entries, next: Entries): Diff => {
  const before = indexOf(previous)
  const after = indexOf(next)
  return { added: missingFrom(next, after, before), removed: missingFrom(previous, before, after) }
}

export const format = (entries: Entries): ReadonlyArray<string> => entries.map(Entry.format)
