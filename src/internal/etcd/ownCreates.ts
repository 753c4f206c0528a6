/**
 * This instance's creates that the totals watch (`stats.ts`) may not have
 * applied yet: a create's answer and its watch event travel on different gRPC
 * streams, so either may come first, and the check right after a create
 * ("first in its cluster?") must count the key.
 *
 * Each is kept with a revision at or after its create's and dropped once the
 * watch has applied that revision: the tally then holds the key (or its
 * delete). So at most the creates of the watch's delay are kept.
 */

/** What the watch has applied: every change up to `revision`, and the keys that exist then. */
export interface Applied {
  readonly revision: bigint
  readonly keys: ReadonlySet<string>
}

export interface OwnCreates {
  /** This instance created `fullKey`, in `cluster`, acknowledged at or before `revision`. */
  readonly add: (applied: Applied, cluster: string, fullKey: string, revision: bigint) => void
  /** Creates in `cluster` the watch has not applied. */
  readonly unapplied: (applied: Applied, cluster: string) => number
}

export const make = (): OwnCreates => {
  // In revision order: `Connection.revision` only grows, and a key added again moves to the end.
  const pending = new Map<string, { readonly cluster: string; readonly revision: bigint }>()
  const byCluster = new Map<string, Set<string>>()

  const drop = (fullKey: string, cluster: string) => {
    pending.delete(fullKey)
    const keys = byCluster.get(cluster)
    keys?.delete(fullKey)
    if (keys?.size === 0) byCluster.delete(cluster)
  }
  const settle = (applied: Applied) => {
    for (const [fullKey, p] of pending) {
      if (p.revision > applied.revision) return
      drop(fullKey, p.cluster)
    }
  }

  return {
    add: (applied, cluster, fullKey, revision) => {
      settle(applied)
      const before = pending.get(fullKey)
      if (before !== undefined) drop(fullKey, before.cluster)
      if (revision <= applied.revision) return
      pending.set(fullKey, { cluster, revision })
      byCluster.set(cluster, (byCluster.get(cluster) ?? new Set()).add(fullKey))
    },
    unapplied: (applied, cluster) => {
      settle(applied)
      let n = 0
      for (const fullKey of byCluster.get(cluster) ?? []) if (!applied.keys.has(fullKey)) n++
      return n
    }
  }
}
