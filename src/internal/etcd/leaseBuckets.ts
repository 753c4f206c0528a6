/**
 * This instance's leases shared by time (`sharedLeases.ts`): per TTL, one
 * lease serves the puts of `BUCKET_MS`, granted for the TTL + 1 s, and is
 * revoked by this instance as soon as the TTL has passed since the last
 * transaction that used it ended. Each bucket's lease is asked for when the
 * one before it opens, so no transaction waits for a grant (measured: with a
 * grant on the path four times a second, heartbeats at 100k entries took
 * 5-10 ms more at the median and each instance 0.03-0.05 cores more).
 *
 * Why revoke, not wait for etcd: etcd expires a lease at its grant + TTL,
 * and only whole seconds, so a key put at the start of its lease's second
 * outlived its TTL by up to 1 s; etcd's own expiry then adds its revoke loop
 * (every 500 ms, retried each 3 s when a revoke does not go through), and a
 * new etcd leader renews every lease to its full TTL. The HA suite recorded
 * keys deleted 0.75-0.84 s past their TTL at the median, up to 1.45 s. Revoking when
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

/** A lease serves the puts of this long from when its bucket opened. */
export const BUCKET_MS = 250

/** A lease asked of etcd: when (etcd's own expiry counts from about then), and its id once granted. */
interface Asked {
  readonly at: number
  readonly id: Deferred.Deferred<string, KvError>
}

interface Bucket {
  /** When it opened to puts (ms). */
  readonly from: number
  readonly lease: Asked
  /** Transactions given this lease that have not ended. */
  users: number
  /** When the last of them ended (ms). */
  lastUse: number
  /**
   * Closed to new transactions by its retire. Not left to the clock: a timer may fire a little before the
   * monotonic clock says its time has come (Node counts it from the event loop's time as of its turn began), and a
   * transaction joining after the retire read `lastUse` would see its lease revoked before its keys' TTL.
   */
  closed: boolean
  /** Done when the bucket is closed and no transaction holds its lease. */
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

/** etcd's lease calls of the buckets, run in the store's scope, counting the leases held in `tally`. */
const leaseCalls = (conn: Connection, scope: Scope.Scope, tally: { live: number }) => {
  const grant = LeasePool.grant(conn)
  // Interruptible: an acquisition (`Effect.acquireRelease`) is not, and what it forks would inherit that.
  const background = <A, E>(effect: Effect.Effect<A, E>) =>
    Effect.forkIn(Effect.interruptible(Effect.ignore(effect)), scope)

  const ask = (seconds: number, now: number) =>
    Effect.gen(function* () {
      const lease: Asked = { at: now, id: yield* Deferred.make<string, KvError>() }
      tally.live++
      yield* background(
        grant(seconds + 1).pipe(
          Effect.map(({ id }) => id),
          Effect.tapError(() => Effect.sync(() => tally.live--)),
          Effect.intoDeferred(lease.id)
        )
      )
      return lease
    })

  /** Revokes `lease`, tried again until etcd has expired it on its own (TTL + 1 s from when it was asked). */
  const revoke = (lease: Asked, seconds: number) =>
    Effect.flatMap(Deferred.await(lease.id), (id) =>
      LeasePool.revoke(conn)(id).pipe(
        Effect.retry({
          schedule: retrying,
          // Not found: etcd expired it already (or a leader's revoke went through before its answer was lost).
          while: (error) =>
            Effect.map(
              monotonicMillis,
              (t) => t < lease.at + (seconds + 1) * 1000 && !LeasePool.leaseGone(error)
            )
        }),
        Effect.ensuring(Effect.sync(() => tally.live--))
      )
    )
  return { background, ask, revoke }
}

export const make = (conn: Connection): Effect.Effect<LeaseBuckets, never, Scope.Scope> =>
  Effect.gen(function* () {
    const current = new Map<number, Bucket>()
    /** Per TTL, the lease of the next bucket, asked when the current one opened. */
    const ahead = new Map<number, Asked>()
    const tally = { live: 0 }
    const { ask, background, revoke } = leaseCalls(conn, yield* Effect.scope, tally)

    const release = (bucket: Bucket) =>
      Effect.flatMap(monotonicMillis, (now) => {
        bucket.users--
        bucket.lastUse = now
        return bucket.users === 0 && bucket.closed ? Deferred.succeed(bucket.idle, undefined) : Effect.void
      })

    /** Revokes the bucket's lease a TTL after its last use. */
    const retire = (seconds: number, bucket: Bucket) =>
      Effect.gen(function* () {
        yield* Deferred.await(bucket.lease.id)
        yield* Effect.sleep(Duration.millis(BUCKET_MS))
        bucket.closed = true
        if (bucket.users > 0) yield* Deferred.await(bucket.idle)
        const now = yield* monotonicMillis
        yield* Effect.sleep(Duration.millis(Math.max(0, bucket.lastUse + seconds * 1000 - now)))
        yield* revoke(bucket.lease, seconds)
      })

    /**
     * The lease for a bucket opening now: the one asked ahead when it is young enough that etcd's own expiry
     * still gives a put at the bucket's end its TTL (asked at most 1 s before it), else a new one; and the next
     * bucket's is asked now, so that a bucket's first transaction does not wait for a grant.
     */
    const leaseOfBucket = (seconds: number, now: number) =>
      Effect.gen(function* () {
        const spare = ahead.get(seconds)
        const usable = spare !== undefined && now + BUCKET_MS - spare.at <= 1000
        if (spare !== undefined && !usable) yield* background(revoke(spare, seconds))
        const lease = usable ? spare : yield* ask(seconds, now)
        ahead.set(seconds, yield* ask(seconds, now))
        return lease
      })

    const acquire = (seconds: number) =>
      Effect.gen(function* () {
        const now = yield* monotonicMillis
        const open = current.get(seconds)
        if (open !== undefined && !open.closed && now < open.from + BUCKET_MS) {
          open.users++
          return open
        }
        const next: Bucket = {
          from: now,
          lease: yield* leaseOfBucket(seconds, now),
          users: 1,
          lastUse: now,
          closed: false,
          idle: yield* Deferred.make<void>()
        }
        current.set(seconds, next)
        yield* background(retire(seconds, next))
        return next
      })

    const leaseFor = (seconds: number) =>
      Effect.acquireRelease(acquire(seconds), release).pipe(
        Effect.flatMap((bucket) =>
          // A failed grant: the next put opens a bucket of its own rather than fail with this one.
          Effect.tapError(Deferred.await(bucket.lease.id), () =>
            Effect.sync(() => current.get(seconds) === bucket && current.delete(seconds))
          )
        )
      )

    return { leaseFor, count: () => tally.live }
  })
