/** Small helpers over `KvPair` lists that every store needs. */
import type { KvPair } from "../KvStore.js"

/** Orders pairs by key (byte order of the UTF-16 code units, as `<` compares). */
export const byKey = (a: KvPair, b: KvPair): number => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)

/** The cluster a key is in: its first path segment, or undefined for a key outside any (no `/`). */
export const clusterOf = (key: string): string | undefined => {
  const slash = key.indexOf("/")
  return slash > 0 ? key.slice(0, slash) : undefined
}

/** Same keys with the same values, in the same order. */
export const samePairs = (a: ReadonlyArray<KvPair>, b: ReadonlyArray<KvPair>): boolean =>
  a.length === b.length && a.every((p, i) => p.key === b[i]!.key && p.value === b[i]!.value)
