/**
 * Writes with a TTL: one lease per live key, refreshed by keep-alive.
 *
 * A registration with TTL T must vanish T after the last one. The first put
 * of a key attaches it to a lease of T (whole seconds, rounded up; from
 * `leasePool.ts`). A refresh sends a keep-alive for that lease, which resets it
 * to T and is no raft write. Its answer carries etcd's revision: when nothing
 * was written since we last saw the key on our lease with this value, or the
 * totals watch has applied every change up to that revision and none touched
 * the key (`followed.ts`), that is all. Otherwise the key is read. When it holds this value on a live
 * lease of T, whichever server of an HA group attached it, that lease is
 * kept alive and becomes ours: a heartbeat through another instance writes
 * nothing either. Only a changed value, another TTL or a missing key costs a
 * put. So a heartbeat costs no write and a new key one on its path (the grant
 * is pooled under load). A lease of another TTL is revoked once its key left
 * it. Concurrent puts of a key share one lease. A lease carries one key, so
 * a delete revokes the leases of the keys it removes (`writes.ts`): a late
 * copy of a put naming one is refused then.
 *
 * The revision is that of the member answering; a follower may lag the
 * leader by moments, which bounds how stale "unchanged" can be.
 */
import { Clock, Deferred, Duration, Effect, Schedule, type Scope } from "effect"
import { KvError, type PutOptions } from "../../KvStore.js"
import * as Background from "./background.js"
import type { Connection } from "./connection.js"
import type { Counts } from "./counts.js"
import * as Followed from "./followed.js"
import type { KeepAlive } from "./keepAlive.js"
import * as LeasePool from "./leasePool.js"
import * as Requests from "./requests.js"
import * as Writes from "./writes.js"

interface Held {
  /** Granted for this many seconds (as asked). */
  readonly seconds: number
  readonly id: Deferred.Deferred<LeasePool.Taken, KvError>
  expiresAt: number
  /** etcd's revision when the key last held `value` on this lease, as far as we saw. */
  verified: { readonly revision: string; readonly value: string } | undefined
  /** Puts sharing this lease while it is got ready. */
  users: number
  /** The watch's last applied revision when this entered the table: changes after it are in `changedAt`. */
  trackedFrom: bigint
  /** The last change of the key the watch applied while this was in the table (0: none). */
  changedAt: bigint
}

const heldOf = (seconds: number, taken: Deferred.Deferred<LeasePool.Taken, KvError>, now: number): Held => ({
  seconds,
  id: taken,
  expiresAt: now + seconds * 1000,
  verified: undefined,
  users: 1,
  trackedFrom: 0n,
  changedAt: 0n
})

/** The store's leases for keys: the table, the pool they come from, and getting one ready or letting one go. */
interface Leases {
  readonly table: Map<string, Held>
  /** Puts `held` in the table for `key`, from where the watch stands (see `unchangedSince`). */
  readonly track: (key: string, held: Held) => void
  /** The TTL etcd grants for a TTL asked (it raises small ones), as seen on grants. */
  readonly granted: Map<number, number>
  readonly pool: LeasePool.LeasePool
  readonly revokeLater: (held: Held) => Effect.Effect<void>
  readonly release: (key: string) => Effect.Effect<void>
  readonly grant: (key: string, seconds: number) => Effect.Effect<Held, KvError>
}

const makeLeases = (
  conn: Connection,
  keepAlive: KeepAlive,
  followed: Followed.Followed
): Effect.Effect<Leases, never, Scope.Scope> =>
  Effect.gen(function* () {
    const scope = yield* Effect.scope
    const background = yield* Background.make
    const pool = yield* LeasePool.make(conn, keepAlive, background)
    const table = new Map<string, Held>()
    const granted = new Map<number, number>()

    const track = (key: string, held: Held) => {
      held.trackedFrom = followed.applied
      table.set(key, held)
    }
    followed.onChange = (key, revision) => {
      const held = table.get(key)
      if (held !== undefined && revision > held.changedAt) held.changedAt = revision
    }

    const revokeLater = (held: Held) =>
      Deferred.await(held.id).pipe(
        Effect.flatMap(({ id }) => LeasePool.revoke(conn)(id)),
        Effect.ignore,
        background.run
      )

    // Forget leases that expired anyway, so the table stays as small as the live keys; off any request's path.
    yield* Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      for (const [key, held] of table) if (held.expiresAt < now) table.delete(key)
    }).pipe(Effect.repeat(Schedule.spaced(Duration.seconds(10))), Effect.forkScoped)

    const release = (key: string) => {
      const held = table.get(key)
      table.delete(key)
      return held ? revokeLater(held) : Effect.void
    }

    /** A lease for `key` of `seconds`: the one being got ready by a concurrent put, or one from the pool. */
    const grant = (key: string, seconds: number) =>
      Effect.gen(function* () {
        const pending = table.get(key)
        if (pending?.seconds === seconds && !(yield* Deferred.isDone(pending.id))) {
          pending.users++
          yield* Deferred.await(pending.id)
          return pending
        }
        const held = heldOf(
          seconds,
          yield* Deferred.make<LeasePool.Taken, KvError>(),
          yield* Clock.currentTimeMillis
        )
        track(key, held)
        // In the store's scope, so the lease is ready for every waiter even if this put is interrupted.
        yield* pool.take(seconds).pipe(
          Effect.tap((taken) => Effect.sync(() => granted.set(seconds, taken.ttl))),
          Effect.tapError(() => Effect.sync(() => table.get(key) === held && table.delete(key))),
          Effect.intoDeferred(held.id),
          Effect.forkIn(scope)
        )
        yield* Deferred.await(held.id)
        return held
      })

    return { table, track, granted, pool, revokeLater, release, grant }
  })

/** Keep-alives: of our own lease for a key, and of a lease found on a key that we may take as ours. */
const liveness = ({ table, track, granted }: Leases, keepAlive: KeepAlive) => {
  /** Keeps our lease for `key` alive: etcd's revision then, or none when the lease is gone (or the call broke). */
  const refresh = (key: string, held: Held) =>
    Deferred.await(held.id).pipe(
      Effect.flatMap(({ id }) => keepAlive.refresh(id)),
      Effect.flatMap(({ revision, ttl }) =>
        Effect.map(Clock.currentTimeMillis, (now) => {
          if (ttl > 0) held.expiresAt = now + ttl * 1000
          else if (table.get(key) === held) table.delete(key)
          return ttl > 0 ? revision : undefined
        })
      ),
      Effect.catchAll((error) =>
        Effect.as(Effect.logDebug(`etcd: ${error.message}; granting anew`), undefined)
      )
    )

  /**
   * The key holds this value on lease `id` (another instance's, or ours from before): keep that lease alive
   * and take it as ours when it has the TTL asked. False when it does not (then the put writes).
   */
  const adopt = (key: string, id: string, seconds: number, revision: string, value: string) =>
    keepAlive.refresh(id).pipe(
      Effect.flatMap(({ ttl }) =>
        Effect.gen(function* () {
          if (ttl <= 0 || ttl !== (granted.get(seconds) ?? seconds)) return false
          const now = yield* Clock.currentTimeMillis
          const held = heldOf(seconds, yield* Deferred.make<LeasePool.Taken, KvError>(), now)
          yield* Deferred.succeed(held.id, { id, ttl, waited: 0 })
          held.verified = { revision, value }
          track(key, held)
          return true
        })
      ),
      Effect.orElseSucceed(() => false)
    )

  return { refresh, adopt }
}

type Liveness = ReturnType<typeof liveness>
type Requests = ReturnType<typeof Requests.make>

/**
 * `write` on a taken lease, which is renewed beside it (one round trip) when it waited. Concurrency only
 * then: a concurrent `Effect.all` costs more CPU than an etcd request's own client-side work.
 */
const withRenew = <A>(pool: LeasePool.LeasePool, taken: LeasePool.Taken, write: Effect.Effect<A, KvError>) =>
  LeasePool.needsRenew(taken)
    ? Effect.map(Effect.all([write, pool.renew(taken)], { concurrency: 2 }), ([a]) => a)
    : write

/** Writes `key` on `lease`; a lease from the pool that waited is reset to its full TTL beside the put. */
const writeOn =
  ({ pool }: Leases, { write }: Requests) =>
  (key: string, value: string, lease: Held) =>
    Effect.gen(function* () {
      const taken = yield* Deferred.await(lease.id)
      const written = yield* withRenew(pool, taken, write(key, value, taken.id))
      lease.verified = { revision: written.revision, value }
      return written.result
    })

/**
 * No live lease of ours for the key (probably a new one): with a lease ready and its bound counted,
 * one transaction creates it, or reads it when it exists (then a live lease of the TTL on it is adopted).
 */
const putFresh =
  (leases: Leases, { adopt }: Liveness, requests: Requests, counts: Counts) =>
  (key: string, mapKey: string, value: string, seconds: number, limit: PutOptions["limit"]) =>
    Effect.gen(function* () {
      const { table, pool, grant } = leases
      const { read, createOrRead } = requests
      // One after the other: both are usually answered at once (a kept count, a spare lease).
      const keys = limit === undefined ? 0 : yield* counts.count(limit.prefix, limit.max)
      const lease = yield* grant(mapKey, seconds)
      const giveBack = (): Effect.Effect<void> =>
        lease.users > 1
          ? Effect.void
          : Effect.flatMap(Deferred.await(lease.id), (taken) => pool.giveBack(seconds, taken)).pipe(
              Effect.ignore
            )
      const full = limit !== undefined && keys >= limit.max
      const taken = yield* Deferred.await(lease.id)
      const attempt = full
        ? Effect.map(read(key), (r) => ({ created: false, ...r }))
        : withRenew(pool, taken, createOrRead(key, value, taken.id))
      const current = yield* attempt
      if (current.created) {
        lease.verified = { revision: current.revision, value }
        return "created" as const
      }
      const kv = current.kv
      // Our own create, committed on an attempt whose answer was lost and then read back by the etcd client's
      // retry on another member: the key is on the lease we hold, which must never go back to the pool (a
      // spare is revoked or handed to another key, and a revoke deletes every key on the lease).
      if (kv !== undefined && kv.lease === taken.id) {
        lease.verified = { revision: current.revision, value: kv.value.toString() }
        if (kv.value.toString() === value) return "created" as const
        return yield* writeOn(leases, requests)(key, value, lease)
      }
      if (kv !== undefined && kv.lease !== "0" && kv.value.toString() === value) {
        if (yield* adopt(mapKey, kv.lease, seconds, current.revision, value)) {
          yield* giveBack()
          return "updated" as const
        }
      }
      if (kv === undefined) {
        if (table.get(mapKey) === lease) table.delete(mapKey)
        yield* giveBack()
        return yield* Requests.limitExceeded(limit!)
      }
      return yield* writeOn(leases, requests)(key, value, lease)
    })

/**
 * The key still holds `value` on our lease at etcd's revision `alive` (a keep-alive's answer): nothing was
 * written since we saw it so, or the totals watch applied every change up to `alive` and none touched the
 * key since (see `followed.ts`). Else the heartbeat reads the key.
 */
const unchanged = (followed: Followed.Followed, held: Held, value: string, alive: string) => {
  const verified = held.verified
  if (verified === undefined || verified.value !== value) return false
  if (verified.revision === alive) return true
  if (followed.from === undefined) return false
  const at = BigInt(verified.revision)
  return (
    at >= followed.from && at >= held.trackedFrom && held.changedAt <= at && followed.applied >= BigInt(alive)
  )
}

/** A put with a TTL: a keep-alive of our live lease when the key is unchanged, else a read, adopt or write. */
const putWithTtl = (
  conn: Connection,
  leases: Leases,
  live: Liveness,
  requests: Requests,
  counts: Counts,
  followed: Followed.Followed
) => {
  const fresh = putFresh(leases, live, requests, counts)
  const writeOnLease = writeOn(leases, requests)
  /**
   * Reads the key and adopts its live lease when it holds `value`: a read and a keep-alive, where the
   * create-or-read transaction of `fresh` is a raft write even when it only reads. False: `fresh` decides.
   */
  const adoptExisting = (key: string, mapKey: string, value: string, seconds: number) =>
    Effect.flatMap(requests.read(key), ({ kv, revision }) =>
      kv !== undefined && kv.lease !== "0" && kv.value.toString() === value
        ? live.adopt(mapKey, kv.lease, seconds, revision, value)
        : Effect.succeed(false)
    )
  return (key: string, value: string, ttl: Duration.DurationInput, limit: PutOptions["limit"]) =>
    Effect.gen(function* () {
      const { table, revokeLater } = leases
      const mapKey = conn.fullKey(key).toString()
      const seconds = LeasePool.seconds(ttl)
      const held = table.get(mapKey)
      const ours = held?.seconds === seconds ? held : undefined
      // A key that exists but that we hold no lease for: a heartbeat that came through another instance.
      if (
        held === undefined &&
        Followed.exists(followed, mapKey) &&
        (yield* adoptExisting(key, mapKey, value, seconds))
      )
        return "updated" as const
      const alive = ours === undefined ? undefined : yield* live.refresh(mapKey, ours)
      if (ours === undefined || alive === undefined)
        return yield* fresh(key, mapKey, value, seconds, limit).pipe(
          // A lease of another TTL is revoked once the key has left it (a revoke deletes its keys).
          Effect.tap(() => (held !== undefined && held !== ours ? revokeLater(held) : Effect.void))
        )
      // The common case, a heartbeat of our own live entry that nothing changed: one keep-alive.
      if (unchanged(followed, ours, value, alive)) return "updated" as const
      const current = yield* requests.read(key)
      const { id } = yield* Deferred.await(ours.id)
      const kv = current.kv
      if (kv !== undefined && kv.value.toString() === value && kv.lease !== "0") {
        if (kv.lease === id) {
          ours.verified = { revision: current.revision, value }
          return "updated" as const
        }
        if (yield* live.adopt(mapKey, kv.lease, seconds, current.revision, value)) {
          yield* revokeLater(ours) // it carries no key any more
          return "updated" as const
        }
      }
      if (kv === undefined) yield* requests.checkLimit(limit)
      return yield* writeOnLease(key, value, ours).pipe(
        // Revoked since our keep-alive (another instance deleted the key): a new lease then.
        Effect.catchIf(LeasePool.leaseGone, () => {
          if (table.get(mapKey) === ours) table.delete(mapKey)
          return fresh(key, mapKey, value, seconds, limit)
        })
      )
    })
}

export const make = (
  conn: Connection,
  keepAlive: KeepAlive,
  counts: Counts,
  followed: Followed.Followed
): Effect.Effect<Writes.Writes, never, Scope.Scope> =>
  Effect.gen(function* () {
    const leases = yield* makeLeases(conn, keepAlive, followed)
    const requests = Requests.make(conn)
    return Writes.make(conn, counts, requests, followed, {
      putWithTtl: putWithTtl(conn, leases, liveness(leases, keepAlive), requests, counts, followed),
      released: leases.release,
      held: () => leases.table.size,
      spares: leases.pool.spares,
      leasePerKey: true
    })
  })
