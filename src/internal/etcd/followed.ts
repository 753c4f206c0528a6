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
export interface Followed {
  /** Every change under the prefix from this revision on has been seen; undefined while counting (again). */
  from: bigint | undefined
  /** ... up to this revision (the last change applied). */
  applied: bigint
  /** Told of each change (a put or a delete of the full key) as the watch applies it. */
  onChange: (fullKey: string, revision: bigint) => void
}

export const make = (): Followed => ({ from: undefined, applied: 0n, onChange: () => {} })
