/**
 * Writes with a TTL: one lease per live key, refreshed by keep-alive.
 *
 * A registration with TTL T must vanish T after the last one. The first put
 * of a key grants a lease of T (whole seconds, rounded up) and attaches the
 * key to it. A refresh sends a keep-alive for that lease, which resets it to
 * T and is no raft write. Its answer carries etcd's revision: when nothing
 * was written since we last saw the key on our lease with this value, that
 * is all. Otherwise the key is read, and when another server of an HA group
 * re-put or deleted it (or the value changed) one put attaches it to our
 * lease again. So a heartbeat costs no write, a change one, and a new key two
 * (grant, put). A lease that is gone (expired) is granted afresh; one of
 * another TTL replaces ours, and the old one is revoked. Concurrent puts of a
 * key share one grant.
 *
 * The revision is that of the member answering; a follower may lag the
 * leader by moments, which bounds how stale "unchanged" can be.
 */
import { Clock, Deferred, Duration, Effect, type Scope } from "effect"
import type { IKeyValue } from "etcd3"
import { KvError, type PutOptions, type PutResult } from "../../KvStore.js"
import { type Connection, STORE } from "./connection.js"
import * as Requests from "./requests.js"
import type { KeepAlive } from "./keepAlive.js"

interface Held {
  /** Granted for this many seconds (as asked). */
  readonly seconds: number
  readonly id: Deferred.Deferred<string, KvError>
  expiresAt: number
  /** etcd's revision when the key last held `value` on this lease, as far as we saw. */
  verified: { readonly revision: string; readonly value: string } | undefined
}

export interface Writes {
  readonly put: (key: string, value: string, options?: PutOptions) => Effect.Effect<PutResult, KvError>
  readonly remove: (key: string) => Effect.Effect<boolean, KvError>
  readonly removePrefix: (prefix: string) => Effect.Effect<number, KvError>
  /** How many leases this store holds for keys (a figure for tests and metrics). */
  readonly held: () => number
}

export const make = (conn: Connection, keepAlive: KeepAlive): Effect.Effect<Writes, never, Scope.Scope> =>
  Effect.gen(function* () {
    const scope = yield* Effect.scope
    const { call, client } = conn
    const leases = new Map<string, Held>()
    let prunedAt = 0

    const revokeLater = (held: Held) =>
      Deferred.await(held.id).pipe(
        Effect.flatMap((id) => call(`revoke lease ${id}`, () => client.leaseClient.leaseRevoke({ ID: id }))),
        Effect.ignore,
        Effect.forkIn(scope),
        Effect.asVoid
      )

    /** Forget leases that expired anyway, so the table stays as small as the live keys. */
    const prune = (now: number) => {
      if (leases.size < 1024 || now - prunedAt < 1000) return
      prunedAt = now
      for (const [key, held] of leases) if (held.expiresAt < now) leases.delete(key)
    }

    const release = (key: string) => {
      const held = leases.get(key)
      leases.delete(key)
      return held ? revokeLater(held) : Effect.void
    }

    /** Our lease for `key` of `seconds`: the one being granted by a concurrent put, or a new one. */
    const grant = (key: string, seconds: number) =>
      Effect.gen(function* () {
        const pending = leases.get(key)
        if (pending?.seconds === seconds && !(yield* Deferred.isDone(pending.id))) {
          yield* Deferred.await(pending.id)
          return pending
        }
        const now = yield* Clock.currentTimeMillis
        const held: Held = {
          seconds,
          id: yield* Deferred.make<string, KvError>(),
          expiresAt: now + seconds * 1000,
          verified: undefined
        }
        leases.set(key, held)
        if (pending && pending.seconds !== seconds) yield* revokeLater(pending)
        prune(now)
        // In the store's scope, so the grant completes for every waiter even if this put is interrupted.
        yield* call(`grant a ${seconds}s lease for ${key}`, () =>
          client.leaseClient.leaseGrant({ TTL: seconds, ID: 0 })
        ).pipe(
          Effect.flatMap((res) =>
            res.error
              ? Effect.fail(
                  new KvError({ store: STORE, reason: "BadResponse", detail: `lease grant: ${res.error}` })
                )
              : Effect.succeed(res.ID)
          ),
          Effect.tapError(() => Effect.sync(() => leases.get(key) === held && leases.delete(key))),
          Effect.intoDeferred(held.id),
          Effect.forkIn(scope)
        )
        yield* Deferred.await(held.id)
        return held
      })

    /** Keeps our lease for `key` alive: etcd's revision then, or none when the lease is gone (or the call broke). */
    const refresh = (key: string, held: Held) =>
      Deferred.await(held.id).pipe(
        Effect.flatMap(keepAlive.refresh),
        Effect.flatMap(({ revision, ttl }) =>
          Effect.map(Clock.currentTimeMillis, (now) => {
            if (ttl > 0) held.expiresAt = now + ttl * 1000
            else if (leases.get(key) === held) leases.delete(key)
            return ttl > 0 ? revision : undefined
          })
        ),
        Effect.catchAll((error) =>
          Effect.as(Effect.logDebug(`etcd: ${error.message}; granting anew`), undefined)
        )
      )

    const { read, checkLimit, write } = Requests.make(conn)

    const putWithTtl = (
      key: string,
      value: string,
      ttl: Duration.DurationInput,
      limit: PutOptions["limit"]
    ) =>
      Effect.gen(function* () {
        const mapKey = conn.fullKey(key).toString()
        const seconds = Math.max(1, Math.ceil(Duration.toMillis(Duration.decode(ttl)) / 1000))
        const held = leases.get(mapKey)
        const ours = held?.seconds === seconds ? held : undefined
        const alive = ours === undefined ? undefined : yield* refresh(mapKey, ours)
        // The common case, a heartbeat of our own live entry while nothing was written: one keep-alive.
        if (alive !== undefined && ours!.verified?.value === value && ours!.verified.revision === alive) {
          return "updated" as const
        }
        let lease: Held
        if (alive !== undefined) {
          const current = yield* read(key)
          const id = yield* Deferred.await(ours!.id)
          if (current.kv?.lease === id && current.kv.value.toString() === value) {
            ours!.verified = { revision: current.revision, value }
            return "updated" as const
          }
          if (current.kv === undefined) yield* checkLimit(limit)
          lease = ours!
        } else if (limit !== undefined) {
          // A new lease: grant it while the bound is checked (a refused key's lease just runs out).
          const [current, granted] = yield* Effect.all([read(key), grant(mapKey, seconds)], {
            concurrency: 2
          })
          if (current.kv === undefined) yield* checkLimit(limit)
          lease = granted
        } else {
          lease = yield* grant(mapKey, seconds)
        }
        const written = yield* write(key, value, yield* Deferred.await(lease.id))
        lease.verified = { revision: written.revision, value }
        return written.result
      })

    const put = (key: string, value: string, options?: PutOptions): Effect.Effect<PutResult, KvError> =>
      options?.ttl !== undefined
        ? putWithTtl(key, value, options.ttl, options.limit)
        : Effect.gen(function* () {
            const limit = options?.limit
            if (limit !== undefined && (yield* read(key)).kv === undefined) yield* checkLimit(limit)
            const written = yield* write(key, value)
            yield* release(conn.fullKey(key).toString())
            return written.result
          })

    const forget = (keys: ReadonlyArray<IKeyValue>) =>
      Effect.forEach(keys, (kv) => release(kv.key.toString()), { discard: true })

    const remove = (key: string) =>
      call(`delete ${key}`, () => client.kv.deleteRange({ key: conn.fullKey(key), prev_kv: true })).pipe(
        Effect.tap((res) => forget(res.prev_kvs ?? [])),
        Effect.map((res) => Number(res.deleted) > 0)
      )

    const removePrefix = (prefix: string) =>
      call(`delete ${prefix}*`, () =>
        client.kv.deleteRange({ ...conn.prefixRange(prefix), prev_kv: true })
      ).pipe(
        Effect.tap((res) => forget(res.prev_kvs ?? [])),
        Effect.map((res) => Number(res.deleted))
      )

    return { put, remove, removePrefix, held: () => leases.size }
  })
