/**
 * What this instance has seen of the writes under the prefix, through the
 * totals watch (`stats.ts`), shared with the leases (`leases.ts`).
 *
 * A heartbeat's keep-alive answers with etcd's revision R. When the watch has
 * applied every change under the prefix up to R, and none of them touched the
 * key since we last saw it hold this value on our lease, the key is unchanged:
 * the heartbeat needs no read. Every write in an HA group moves R, so without
 * this nearly every heartbeat read its key.
 */
import type { Connection } from "./connection.js"

export interface Followed {
  /** Every change under the prefix from this revision on has been seen; undefined while counting (again). */
  from: bigint | undefined
  /** ... up to this revision (the last change applied). */
  applied: bigint
  /**
   * The full keys that exist as of `applied` (meaningful while `from` is defined). A hint, never trusted for
   * an answer: a heartbeat of a key that exists but that this instance holds no lease for (it came through
   * another instance) reads it and adopts its lease, instead of the create-or-read transaction, which etcd
   * runs as a raft write even when it only reads.
   */
  present: Set<string>
  /** Told of each change (a put or a delete of the full key) as the watch applies it. */
  onChange: (fullKey: string, revision: bigint) => void
}

export const make = (): Followed => ({
  from: undefined,
  applied: 0n,
  present: new Set(),
  onChange: () => {}
})

/**
 * The newest revision this instance knows etcd reached: from its answers (`Connection.revision`) or its
 * watch (`applied`). A write compares its keys with it (`groupCommit.ts`, `writes.ts`).
 */
export const known = (conn: Pick<Connection, "revision">, applied: bigint): bigint =>
  conn.revision() > applied ? conn.revision() : applied

/** Whether the watch says `fullKey` exists now; false when it does not or is not following. */
export const exists = (followed: Followed, fullKey: string): boolean =>
  followed.from !== undefined && followed.present.has(fullKey)
