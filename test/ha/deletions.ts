/**
 * When etcd deleted each entry, from the deletion watchers (`deletionWatcher.ts`):
 * the earliest time any member delivered each deletion, and how late
 * expiries came after their entry's last acknowledged put and TTL.
 */
import { existsSync, readFileSync } from "node:fs"
import { DEFAULT_BOUNDS, timelines } from "./checker.js"
import type { Deletion, Op } from "./history.js"

/** `<namespace>/<cluster token>/<address>`: the entries of the suite's clusters, not the store's own keys. */
const ENTRY = /^[^/]+\/([0-9a-f]{32})\/(.+)$/

/** The deletions the watchers recorded in `files`, each once (by revision and key), at its earliest time. */
export const merge = (files: ReadonlyArray<string>): Array<Deletion> => {
  const earliest = new Map<string, Deletion>()
  for (const file of files.filter(existsSync)) {
    for (const line of readFileSync(file, "utf8").split("\n")) {
      if (line === "") continue
      const { key, revision, at } = JSON.parse(line) as { key: string; revision: string; at: number }
      const entry = ENTRY.exec(key)
      if (entry === null) continue
      const id = `${revision} ${key}`
      const known = earliest.get(id)
      if (known === undefined || at < known.at)
        earliest.set(id, { cluster: entry[1]!, address: entry[2]!, revision: Number(revision), at })
    }
  }
  return [...earliest.values()].sort((a, b) => a.at - b.at)
}

export interface ExpiryLateness {
  /** Deletions that no client DELETE asked for: the entry's lease ran out. */
  readonly expiries: number
  /** From the last acknowledged put's answer plus its TTL to etcd's deletion (ms; negative: early). */
  readonly p50Ms: number
  readonly p99Ms: number
  readonly maxMs: number
  /**
   * The deletion nearest to (or furthest past) the checker's deadline for its entry, which a leader loss or an
   * election stretches (etcd renews every lease then): negative, that many ms before it.
   */
  readonly nearestDeadlineMs: number
}

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!

/**
 * How late etcd deleted entries whose TTL ran out, counted from the answer to their last acknowledged put
 * (as the checker counts). Left out: a deletion after a DELETE of the entry (it is that DELETE's), one while
 * a write of the entry was in flight, and one within reach of a write whose outcome is unknown.
 */
export const expiryLateness = (
  ops: ReadonlyArray<Op>,
  deletions: ReadonlyArray<Deletion>,
  deadline: (write: Op) => number
): ExpiryLateness => {
  const byEntry = timelines(ops)
  const late: Array<number> = []
  let nearest = -Infinity
  for (const d of deletions) {
    const before = (byEntry.get(d.cluster)?.get(d.address)?.writes ?? []).filter(
      (w) => w.invokedAt < d.at && w.outcome !== "fail"
    )
    const unsure = before.some(
      (w) =>
        w.completedAt > d.at ||
        (w.outcome === "unknown" && w.invokedAt + DEFAULT_BOUNDS.unknownWindowMs > d.at)
    )
    const last = before.filter((w) => w.outcome === "ok").at(-1)
    if (unsure || last === undefined || last.kind === "delete" || last.ttl === undefined) continue
    late.push(d.at - (last.completedAt + last.ttl * 1000))
    nearest = Math.max(nearest, d.at - deadline(last))
  }
  const sorted = late.sort((a, b) => a - b)
  return {
    expiries: sorted.length,
    p50Ms: Math.round(percentile(sorted, 50)),
    p99Ms: Math.round(percentile(sorted, 99)),
    maxMs: Math.round(sorted.at(-1) ?? 0),
    nearestDeadlineMs: Math.round(sorted.length === 0 ? 0 : nearest)
  }
}
