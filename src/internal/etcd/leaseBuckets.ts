/**
 * This instance's leases shared by time (`sharedLeases.ts`): per TTL, one
 * lease serves the puts of `BUCKET_MS`, granted for the TTL + 1 s when its
 * first put asks for it, and revoked by this instance as soon as the TTL has
 * passed since the last transaction that used it ended.
 *
 * Why revoke, not wait for etcd: etcd expires a lease at its grant + TTL,
 * and only whole seconds, so a key put at the start of its lease's second
 * outlived its TTL by up to 1 s; etcd's own expiry then adds its revoke loop
 * (every 500 ms, retried each 3 s when a revoke does not go through), and a
 * new etcd leader renews every lease to its full TTL. The HA suite recorded
 * keys deleted up to 1.45 s past their TTL in quiet periods. Revoking when
 * the last use of the lease is a TTL old ends a key within `BUCKET_MS` of its
 * TTL (plus the revoke's round), whatever etcd's lessor does. A key put again
 * meanwhile has moved to a newer lease: the revoke deletes only keys whose
 * last put was on this one, and no sooner than a TTL after it was answered.
 * etcd's expiry stays as the backstop when this instance dies or is cut off.
 */
import { Clock, Deferred, Duration, Effect, Schedule, type Scope } from "effect"
import type { KvError } from "../../KvStore.js"
import type { Connection } from "./connection.js"
import * as LeasePool from "./leasePool.js"

/** A lease serves the puts of this long from when it was asked for. */
export const BUCKET_MS = 250

interface Bucket {
  /** When the grant was asked for (ms). */
  readonly from: number
  readonly id: Deferred.Deferred<string, KvError>
  /** Transactions given this lease that have not ended. */
  users: number
  /** When the last of them ended (ms). */
  lastUse: number
  /** Done when the bucket is closed to new puts and no transaction holds its lease. */
  readonly idle: Deferred.Deferred<void>
}

/** Milliseconds on a clock that never jumps: a wall clock set forward must not revoke leases early. */
const monotonicMillis = Effect.map(Clock.currentTimeNanos, (nanos) => Number(nanos / 1_000_000n))

export interface LeaseBuckets {
  /** The lease for a put of TTL `seconds` now, held until the scope closes (when its transaction ended). */
  readonly leaseFor: (seconds: number) => Effect.Effect<string, KvError, Scope.Scope>
  /** Leases granted and not yet revoked (or expired). */
  readonly count: () => number
}

/** A revoke that does not go through is tried again until etcd has expired the lease on its own. */
const retrying = Schedule.exponential(Duration.millis(100)).pipe(
  Schedule.union(Schedule.spaced(Duration.seconds(2)))
)

export const make = (conn: Connection): Effect.Effect<LeaseBuckets, never, Scope.Scope> =>
  Effect.gen(function* () {
    const scope = yield* Effect.scope
    const current = new Map<number, Bucket>()
    let live = 0
    const grant = LeasePool.grant(conn)
    const revoke = (id: string) =>
      conn.call(`revoke lease ${id}`, () => conn.client.leaseClient.leaseRevoke({ ID: id }))

    const release = (bucket: Bucket) =>
      Effect.flatMap(monotonicMillis, (now) => {
        bucket.users--
        bucket.lastUse = Math.max(bucket.lastUse, now)
        return bucket.users === 0 && now >= bucket.from + BUCKET_MS
          ? Deferred.succeed(bucket.idle, undefined)
          : Effect.void
      })

    /** Revokes the bucket's lease a TTL after its last use; etcd's own expiry ends it if that keeps failing. */
    const retire = (seconds: number, bucket: Bucket) =>
      Effect.gen(function* () {
        const id = yield* Deferred.await(bucket.id)
        yield* Effect.sleep(Duration.millis(BUCKET_MS))
        if (bucket.users > 0) yield* Deferred.await(bucket.idle)
        const now = yield* monotonicMillis
        yield* Effect.sleep(Duration.millis(Math.max(0, bucket.lastUse + seconds * 1000 - now)))
        const expiredBy = bucket.from + (seconds + 1) * 1000
        yield* revoke(id).pipe(
          Effect.retry({
            schedule: retrying,
            // Not found: etcd expired it already (or a leader's revoke went through before its answer was lost).
            while: (error) =>
              Effect.map(monotonicMillis, (t) => t < expiredBy && !/not found/i.test(error.detail))
          }),
          Effect.ignore,
          Effect.ensuring(Effect.sync(() => live--))
        )
      }).pipe(Effect.ignore)

    const acquire = (seconds: number) =>
      Effect.gen(function* () {
        const now = yield* monotonicMillis
        const open = current.get(seconds)
        if (open !== undefined && now < open.from + BUCKET_MS) {
          open.users++
          return open
        }
        const next: Bucket = {
          from: now,
          id: yield* Deferred.make<string, KvError>(),
          users: 1,
          lastUse: now,
          idle: yield* Deferred.make<void>()
        }
        current.set(seconds, next)
        live++
        // In the store's scope: every put of this bucket waits for it, whichever asked first. Interruptible:
        // an acquisition (`Effect.acquireRelease`) is not, and what it forks would inherit that.
        yield* grant(seconds + 1).pipe(
          Effect.map(({ id }) => id),
          Effect.tapError(() =>
            Effect.sync(() => {
              live--
              if (current.get(seconds) === next) current.delete(seconds)
            })
          ),
          Effect.intoDeferred(next.id),
          Effect.interruptible,
          Effect.forkIn(scope)
        )
        yield* Effect.forkIn(Effect.interruptible(retire(seconds, next)), scope)
        return next
      })

    const leaseFor = (seconds: number) =>
      Effect.acquireRelease(acquire(seconds), release).pipe(
        Effect.flatMap((bucket) => Deferred.await(bucket.id))
      )

    return { leaseFor, count: () => live }
  })
