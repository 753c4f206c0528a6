/**
 * A listing's index that stays while its pairs do, for leases shared by time
 * (`sharedLeases.ts`): there every heartbeat is a put, which moves etcd's
 * revision, and a long-poll answered by index would wake at each heartbeat.
 *
 * The last listing of each of the last `MAX_PREFIXES` prefixes is kept: the
 * same pairs keep its index, other pairs get etcd's revision (or one past the
 * last index, whichever is larger). A prefix listed again after it was dropped
 * gets etcd's revision then, past any index it had: on this instance an index
 * never goes back. The watch takes its snapshots' index from here too (its
 * ranges are the store's), so a list and a long-poll agree.
 */
import type { KvPair } from "../../KvStore.js"
import { samePairs } from "../kvPairs.js"

const MAX_PREFIXES = 20_000

export type ListIndex = (prefix: string, pairs: ReadonlyArray<KvPair>, revision: bigint) => number

export const make = (): ListIndex => {
  const last = new Map<string, { readonly pairs: ReadonlyArray<KvPair>; readonly index: number }>()
  return (prefix, pairs, revision) => {
    const seen = last.get(prefix)
    const index =
      seen !== undefined && samePairs(seen.pairs, pairs)
        ? seen.index
        : Math.max(Number(revision), (seen?.index ?? 0) + 1)
    // Map order is insertion order: re-inserting keeps the most recent last, the oldest first to go.
    last.delete(prefix)
    last.set(prefix, { pairs, index })
    if (last.size > MAX_PREFIXES) last.delete(last.keys().next().value!)
    return index
  }
}
