/**
 * The SQLite store's write transactions: each one a savepoint inside the
 * current group commit (better-sqlite3 nests `transaction` that way), each
 * keeping the mirror in step with the rows it changes.
 */
import { Duration } from "effect"
import { KvError, type PutOptions, type PutResult } from "../../KvStore.js"
import { applied, type Change } from "./commits.js"
import { upperBound } from "./keys.js"
import type { Mirror } from "./mirror.js"
import type { Database, Statements } from "./statements.js"

export const make = (db: Database, q: Statements, mirror: Mirror, store: string) => {
  const { state } = mirror

  const putTx = db.transaction(
    (now: number, key: string, value: string, expiresAt: number | null, options: PutOptions | undefined) => {
      const row = q.get.get(key) as { value: string; expires_at: number | null } | undefined
      const live = row !== undefined && (row.expires_at === null || row.expires_at > now)
      const limit = options?.limit
      if (!live && limit !== undefined) {
        const hi = upperBound(limit.prefix)
        const count = (
          hi === undefined ? q.countAll.get(now) : q.countRange.get(limit.prefix, hi, now)
        ) as number
        if (count >= limit.max) {
          const detail = `${limit.prefix} already holds ${limit.max} keys`
          return { _tag: "Refused", error: new KvError({ store, reason: "LimitExceeded", detail }) } as const
        }
      }
      if (live && row.value === value) {
        // A refresh: only the deadline moves; the contents (and the index) stay. It may move earlier
        // here, so snapshots that counted on the old one go.
        q.refresh.run(expiresAt, key)
        mirror.forget(key)
        return applied<PutResult>("updated")
      }
      q.upsert.run(key, value, expiresAt)
      if (row === undefined) state.rows++
      else if (!live) state.expirations++
      return applied<PutResult>(live ? "updated" : "created", mirror.bump([key], false), [key])
    }
  )

  /** A put; `planned` hears of its deadline (the sweeper may have to wake earlier). */
  const put =
    (key: string, value: string, options: PutOptions | undefined, planned: (at: number) => void) =>
    (now: number): Change<PutResult> => {
      const ttl = options?.ttl === undefined ? undefined : Duration.toMillis(Duration.decode(options.ttl))
      const expiresAt = ttl === undefined ? null : now + ttl
      // The common case, a heartbeat refreshing a live entry, is one statement and needs no savepoint.
      const change =
        q.refreshLive.run(expiresAt, key, value, now, expiresAt).changes === 1
          ? applied<PutResult>("updated")
          : putTx(now, key, value, expiresAt, options)
      if (expiresAt !== null && change._tag === "Applied") planned(expiresAt)
      return change
    }

  const remove = db.transaction((now: number, key: string): Change<boolean> => {
    const row = q.remove.get(key) as { expires_at: number | null } | undefined
    if (row === undefined) return applied(false)
    state.rows--
    const live = row.expires_at === null || row.expires_at > now
    if (!live) state.expirations++
    return applied(live, mirror.bump([key], true), [key])
  })

  const removePrefix = db.transaction((now: number, prefix: string): Change<number> => {
    const hi = upperBound(prefix)
    const removed = (hi === undefined ? q.removeAll.all() : q.removeRange.all(prefix, hi)) as Array<
      [string, number | null]
    >
    if (removed.length === 0) return applied(0)
    state.rows -= removed.length
    let live = 0
    for (const [, expiresAt] of removed) {
      if (expiresAt === null || expiresAt > now) live++
      else state.expirations++
    }
    const keys = removed.map(([key]) => key)
    return applied(live, mirror.bump(keys, true), keys)
  })

  /** Deletes up to `limit` keys whose deadline has passed. */
  const expire = db.transaction((now: number, limit: number): Change<number> => {
    const started = performance.now()
    const keys = q.expired.all(now, limit) as Array<string>
    if (keys.length === 0) return applied(0)
    state.rows -= keys.length
    state.expirations += keys.length
    const change = applied(keys.length, mirror.bump(keys, true), keys)
    state.expiryMillis += performance.now() - started
    return change
  })

  return { put, remove, removePrefix, expire }
}
