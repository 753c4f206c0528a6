/**
 * Leases granted ahead of need, so that a new key under load costs one raft
 * write on its request's path (the put), not two (grant, then put).
 *
 * A put that may need a new lease takes one from here while it reads the key;
 * when the key turns out to have a live lease already it gives the new one
 * back. A taken lease that waited is kept alive once (beside the put), so its
 * key still gets its full TTL from the put on.
 *
 * The pool only fills under contention: when a take finds it empty while
 * another grant of the same TTL is still running, its depth doubles (up to
 * `MAX_DEPTH`); a lease that waits past half its TTL is revoked and the depth
 * halves. A quiet store grants on demand and holds no spare lease.
 */
import { Clock, Duration, Effect, type Scope } from "effect"
import { EtcdLeaseInvalidError } from "etcd3"
import { KvError } from "../../KvStore.js"
import { type Connection, STORE } from "./connection.js"
import type { Background } from "./background.js"
import type { KeepAlive } from "./keepAlive.js"

const MAX_DEPTH = 32
/** So many TTL values get a pool at once; others are granted on demand. */
const MAX_POOLS = 8

export interface Taken {
  readonly id: string
  /** The TTL etcd granted (it raises small ones to its minimum). */
  readonly ttl: number
  /** Granted this long ago (ms): a lease that waited needs one keep-alive. */
  readonly waited: number
}

interface Spare {
  readonly id: string
  readonly ttl: number
  readonly at: number
}

interface Pool {
  readonly spares: Array<Spare>
  depth: number
  granting: number
  filling: number
}

export interface LeasePool {
  readonly take: (seconds: number) => Effect.Effect<Taken, KvError>
  /** An unused lease from `take`, back for the next put. */
  readonly giveBack: (seconds: number, taken: Taken) => Effect.Effect<void>
  /** Resets a taken lease that waited to its full TTL. */
  readonly renew: (taken: Taken) => Effect.Effect<void, KvError>
  /** Spare leases held now (a figure for tests). */
  readonly spares: () => number
}

/** The lease length for a TTL: whole seconds, rounded up, at least 1. */
export const seconds = (ttl: Duration.DurationInput): number =>
  Math.max(1, Math.ceil(Duration.toMillis(Duration.decode(ttl)) / 1000))

/** A lease of `seconds` from etcd: its id, and the TTL etcd granted. */
export const grant =
  ({ call, client }: Connection) =>
  (seconds: number): Effect.Effect<{ readonly id: string; readonly ttl: number }, KvError> =>
    call(`grant a ${seconds}s lease`, () => client.leaseClient.leaseGrant({ TTL: seconds, ID: 0 })).pipe(
      Effect.flatMap((res) =>
        res.error
          ? Effect.fail(
              new KvError({ store: STORE, reason: "BadResponse", detail: `lease grant: ${res.error}` })
            )
          : Effect.succeed({ id: res.ID, ttl: Number(res.TTL) })
      )
    )

/** Revokes lease `id` (which deletes the keys on it). */
export const revoke =
  ({ call, client }: Connection) =>
  (id: string): Effect.Effect<unknown, KvError> =>
    call(`revoke lease ${id}`, () => client.leaseClient.leaseRevoke({ ID: id }))

/** etcd no longer has the lease: it expired, or was revoked (perhaps by an attempt whose answer was lost). */
export const leaseGone = (error: KvError): boolean =>
  error.cause instanceof EtcdLeaseInvalidError || /lease not found/i.test(error.detail)

/** etcd's lease calls: a grant, and a revoke now or in the background. */
const leaseCalls = (conn: Connection, background: Background) => {
  const revokeNow = (id: string) => Effect.ignore(revoke(conn)(id))
  return { grant: grant(conn), revokeNow, revoke: (id: string) => background.run(revokeNow(id)) }
}

type LeaseCalls = ReturnType<typeof leaseCalls>

/** Grants spares in the background until the pool holds its depth. */
const filler =
  ({ grant }: LeaseCalls, background: Background) =>
  (seconds: number, pool: Pool) =>
    Effect.suspend(() => {
      const missing = pool.depth - pool.spares.length - pool.filling
      if (missing <= 0) return Effect.void
      pool.filling += missing
      return Effect.forEach(
        Array.from({ length: missing }),
        () =>
          grant(seconds).pipe(
            Effect.flatMap((g) =>
              Effect.map(Clock.currentTimeMillis, (at) => void pool.spares.push({ ...g, at }))
            ),
            Effect.ignore,
            Effect.ensuring(Effect.sync(() => pool.filling--))
          ),
        { concurrency: "unbounded", discard: true }
      ).pipe(background.run)
    })

/** Spares that waited past half their TTL go (revoked), and the pool shrinks. */
const dropStale = ({ revoke }: LeaseCalls, pool: Pool, now: number) => {
  const oldest = pool.spares[0]
  if (oldest === undefined || now - oldest.at <= (oldest.ttl * 1000) / 2) return Effect.void
  pool.spares.shift()
  pool.depth = Math.floor(pool.depth / 2)
  return revoke(oldest.id)
}

/** A spare when there is one; else a grant, and the pool deepens when grants overlap. */
const taker = (pools: Map<number, Pool>, calls: LeaseCalls, background: Background) => {
  const fill = filler(calls, background)
  const poolOf = (seconds: number): Pool | undefined => {
    const found = pools.get(seconds)
    if (found !== undefined || pools.size >= MAX_POOLS) return found
    const pool: Pool = { spares: [], depth: 0, granting: 0, filling: 0 }
    pools.set(seconds, pool)
    return pool
  }
  return (seconds: number): Effect.Effect<Taken, KvError> =>
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const pool = poolOf(seconds)
      if (pool === undefined) return { ...(yield* calls.grant(seconds)), waited: 0 }
      yield* dropStale(calls, pool, now)
      const spare = pool.spares.pop()
      if (spare !== undefined) {
        yield* fill(seconds, pool)
        return { id: spare.id, ttl: spare.ttl, waited: now - spare.at }
      }
      if (pool.granting > 0) pool.depth = Math.min(MAX_DEPTH, Math.max(4, pool.depth * 2))
      yield* fill(seconds, pool)
      pool.granting++
      const granted = yield* calls.grant(seconds).pipe(Effect.ensuring(Effect.sync(() => pool.granting--)))
      return { ...granted, waited: 0 }
    })
}

/** A taken lease that waited this long (ms) is kept alive once beside its put. */
const RENEW_AFTER = 500

/** Whether `renew` has anything to do for this lease. */
export const needsRenew = (taken: Taken): boolean => taken.waited >= RENEW_AFTER

const renewer = (keepAlive: KeepAlive) => (taken: Taken) =>
  !needsRenew(taken)
    ? Effect.void
    : Effect.flatMap(keepAlive.refresh(taken.id), ({ ttl }) =>
        ttl > 0
          ? Effect.void
          : new KvError({ store: STORE, reason: "BadResponse", detail: `lease ${taken.id} ran out` })
      )

export const make = (
  conn: Connection,
  keepAlive: KeepAlive,
  background: Background
): Effect.Effect<LeasePool, never, Scope.Scope> =>
  Effect.gen(function* () {
    const pools = new Map<number, Pool>()
    const calls = leaseCalls(conn, background)

    const giveBack = (seconds: number, taken: Taken) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const pool = pools.get(seconds)
        if (pool === undefined || pool.spares.length >= pool.depth) return calls.revoke(taken.id)
        pool.spares.push({ id: taken.id, ttl: taken.ttl, at: now - taken.waited })
        return Effect.void
      })

    // Grants still running land in the pool first, then every spare goes.
    yield* Effect.addFinalizer(() =>
      background.drain.pipe(
        Effect.zipRight(
          Effect.suspend(() =>
            Effect.forEach(
              [...pools.values()].flatMap((p) => p.spares.splice(0)),
              (s) => calls.revokeNow(s.id),
              { concurrency: 16, discard: true }
            )
          )
        ),
        Effect.timeout("2 seconds"),
        Effect.ignore
      )
    )

    return {
      take: taker(pools, calls, background),
      giveBack,
      renew: renewer(keepAlive),
      spares: () => [...pools.values()].reduce((n, p) => n + p.spares.length, 0)
    }
  })
