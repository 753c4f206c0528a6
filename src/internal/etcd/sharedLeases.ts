/**
 * Writes with a TTL on leases shared by time (`kv.leases=shared`): every put
 * of a key with TTL T, new entry or heartbeat, attaches it to this instance's
 * lease for T of the current quarter second (`leaseBuckets.ts`), granted for
 * T + 1 s and revoked by this instance once T has passed since the last
 * transaction that used it: a key vanishes between T and T + 0.25 s after its
 * last put was answered (plus the revoke's round), or, should this instance
 * be gone, when etcd expires the lease (within T + 1 s). A lease is never
 * kept alive. Puts go to etcd in shared transactions (`groupCommit.ts`).
 *
 * Against one lease per key (`leases.ts`): a new key costs a share of one
 * raft write instead of a lease grant and a transaction, and the leases in
 * etcd number about 4 T per TTL per instance, not one per key; but each
 * heartbeat is a put (a share of a raft write, and a new revision that etcd
 * keeps until it is compacted) where a keep-alive was no write at all. Every instance of an HA
 * group must use the same mode: one that keeps leases per key would keep a
 * shared lease alive when it adopts it.
 */
import { type Duration, Effect, type Scope } from "effect"
import type { PutOptions } from "../../KvStore.js"
import type { Connection } from "./connection.js"
import type { Counts } from "./counts.js"
import * as Followed from "./followed.js"
import * as GroupCommit from "./groupCommit.js"
import * as LeaseBuckets from "./leaseBuckets.js"
import * as LeasePool from "./leasePool.js"
import * as Requests from "./requests.js"
import * as Writes from "./writes.js"

export const make = (
  conn: Connection,
  counts: Counts,
  followed: Followed.Followed
): Effect.Effect<Writes.Writes, never, Scope.Scope> =>
  Effect.gen(function* () {
    const requests = Requests.make(conn)
    const leases = yield* LeaseBuckets.make(conn)
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
      spares: () => 0,
      leasePerKey: false
    })
  })
