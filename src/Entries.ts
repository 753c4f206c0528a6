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

const byKey = (entries: Entries): Map<string, Entry.Entry> => {
  const map = new Map<string, Entry.Entry>()
  for (const entry of entries) map.set(Entry.format(entry), entry)
  return map
}

/** Set equality: same members, in any order. */
export const equals = (a: Entries, b: Entries): boolean => {
  const left = keySet(a)
  const right = keySet(b)
  if (left.size !== right.size) return false
  for (const key of left) if (!right.has(key)) return false
  return true
}

/** What changed from `previous` to `next`, in O(n). Each entry appears once even if an input repeats it. */
export const diff = (previous: Entries, next: Entries): Diff => {
  const before = byKey(previous)
  const after = byKey(next)
  const added: Array<Entry.Entry> = []
  const removed: Array<Entry.Entry> = []
  for (const [key, entry] of after) if (!before.has(key)) added.push(entry)
  for (const [key, entry] of before) if (!after.has(key)) removed.push(entry)
  return { added, removed }
}

export const format = (entries: Entries): ReadonlyArray<string> => entries.map(Entry.format)
