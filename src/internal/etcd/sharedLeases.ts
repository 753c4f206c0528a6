/**
 * Writes with a TTL on leases shared by time (`kv.leases=shared`): every put
 * of a key with TTL T, new entry or heartbeat, attaches it to this instance's
 * lease for T of the current second, granted once for that second with T + 1
 * seconds. A lease is never kept alive: a key vanishes when the lease of its
 * last put runs out, between T and T + 1 s after that put was asked for (the
 * lease was asked for at most 1 s before the put, and its time starts when
 * etcd grants it). Puts go to etcd in shared transactions (`groupCommit.ts`).
 *
 * Against one lease per key (`leases.ts`): a new key costs a share of one
 * raft write instead of a lease grant and a transaction, and the leases in
 * etcd number about (T + 1) per TTL per instance, not one per key; but each
 * heartbeat is a put (a share of a raft write, and a new revision that etcd
 * keeps until it is compacted) where a keep-alive was no write at all, and a
 * key may outlive its TTL by up to a second more. Every instance of an HA
 * group must use the same mode: one that keeps leases per key would keep a
 * shared lease alive when it adopts it.
 */
import { Clock, Deferred, Duration, Effect, type Scope } from "effect"
import type { KvError, PutOptions } from "../../KvStore.js"
import type { Connection } from "./connection.js"
import type { Counts } from "./counts.js"
import * as Followed from "./followed.js"
import * as GroupCommit from "./groupCommit.js"
import * as LeasePool from "./leasePool.js"
import * as Requests from "./requests.js"
import * as Writes from "./writes.js"

/** A lease serves the puts of this long from when it was asked for. */
export const BUCKET_MS = 1000

interface Bucket {
  /** When the grant was asked for (ms). */
  readonly from: number
  readonly id: Deferred.Deferred<string, KvError>
}

/** This instance's current lease per TTL (seconds): one grant per TTL per second that has puts. */
const buckets = (conn: Connection) =>
  Effect.gen(function* () {
    const scope = yield* Effect.scope
    const current = new Map<number, Bucket>()
    const grant = LeasePool.grant(conn)
    const leaseFor = (seconds: number) =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        const bucket = current.get(seconds)
        if (bucket !== undefined && now < bucket.from + BUCKET_MS) return yield* Deferred.await(bucket.id)
        const next: Bucket = { from: now, id: yield* Deferred.make<string, KvError>() }
        current.set(seconds, next)
        // In the store's scope: every put of this second waits for it, whichever asked first.
        yield* grant(seconds + BUCKET_MS / 1000).pipe(
          Effect.map(({ id }) => id),
          Effect.tapError(() => Effect.sync(() => current.get(seconds) === next && current.delete(seconds))),
          Effect.intoDeferred(next.id),
          Effect.forkIn(scope)
        )
        return yield* Deferred.await(next.id)
      })
    return { leaseFor, count: () => current.size }
  })

export const make = (
  conn: Connection,
  counts: Counts,
  followed: Followed.Followed
): Effect.Effect<Writes.Writes, never, Scope.Scope> =>
  Effect.gen(function* () {
    const requests = Requests.make(conn)
    const leases = yield* buckets(conn)
    const commits = yield* GroupCommit.make(conn, leases.leaseFor, () => followed.applied)

    const putWithTtl = (
      key: string,
      value: string,
      ttl: Duration.DurationInput,
      limit: PutOptions["limit"]
    ) =>
      Effect.gen(function* () {
        const fullKey = conn.fullKey(key)
        const seconds = LeasePool.seconds(ttl)
        // A key the totals watch does not know may be new: its bound is checked first (a kept count).
        if (limit !== undefined && !Followed.exists(followed, fullKey.toString())) {
          const keys = yield* counts.count(limit.prefix, limit.max)
          if (keys >= limit.max && (yield* requests.read(key)).kv === undefined)
            return yield* Requests.limitExceeded(limit)
        }
        const { created } = yield* commits.put(fullKey, value, seconds)
        return created ? ("created" as const) : ("updated" as const)
      })

    return Writes.make(conn, counts, requests, followed, {
      putWithTtl,
      // A shared lease runs out on its own; a key leaving it changes nothing for the others.
      released: () => Effect.void,
      held: leases.count,
      spares: () => 0
    })
  })
