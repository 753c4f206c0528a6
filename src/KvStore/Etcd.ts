/**
 * An etcd v3 `KvStore` over the `etcd3` library (gRPC).
 *
 * - **TTL.** A put with a TTL grants a fresh lease of that TTL (whole seconds,
 *   rounded up; etcd raises it to its minimum, about 2s by default) and
 *   attaches the key to it. The lease this store granted for the key before
 *   is then revoked, so one key holds at most one live lease from this store:
 *   nothing leaks beyond a TTL even when the revoke fails. A put without a
 *   TTL detaches the key from any lease. Expiry happens once, in etcd.
 * - **Index.** `list` and every watch snapshot carry an etcd revision: the
 *   header revision of the range, or of the watch response that carried the
 *   change. It only grows; unrelated writes elsewhere in etcd bump it too.
 * - **Watch.** A range gives the first snapshot and its revision R; an etcd
 *   watch from R+1 then applies every event to that snapshot. When the watch
 *   stream breaks (etcd restarted, endpoint lost) it is opened again from the
 *   last applied revision + 1, so nothing is missed or repeated. If etcd has
 *   compacted that revision away, the prefix is listed again.
 * - **Time bounds.** The etcd3 client retries and trips circuit breakers on its
 *   own (via cockatiel). Here each call tries each endpoint about once, every
 *   gRPC call carries a deadline, and every operation is bounded by
 *   `timeout`, so a dead endpoint fails in bounded time with a clear error.
 */
import { readFile } from "node:fs/promises"
import { Clock, Deferred, Duration, Effect, Layer, Queue, Schedule, type Scope, Stream } from "effect"
import { Etcd3, type IOptions, isRecoverableError, type IKeyValue, type IWatchResponse } from "etcd3"
import type { TlsFiles } from "../Discovery/Kv.js"
import {
  KvError,
  KvStore,
  type KvPair,
  type KvSnapshot,
  type KvStoreShape,
  type PutOptions,
  type PutResult
} from "../KvStore.js"

export interface EtcdConfig {
  /** `host:port` of each endpoint (`http://`, or `https://` with `tls`), or full `http(s)://` URLs. */
  readonly endpoints: ReadonlyArray<string>
  readonly tls?: TlsFiles
  /** Every key is stored under `<prefix>/` (for `swarm serve --store etcd://h/prefix`). Default: none. */
  readonly prefix?: string
  /** Bound on each operation (and on each gRPC call). Default 5s. */
  readonly timeout?: Duration.DurationInput
}

export const DEFAULT_TIMEOUT = Duration.seconds(5)

const STORE = "etcd"

type Policy = NonNullable<NonNullable<IOptions["faultHandling"]>["global"]>
type Backoff = NonNullable<NonNullable<IOptions["faultHandling"]>["watchBackoff"]>

/**
 * A cockatiel-shaped policy that runs the call up to `attempts` times while it
 * fails with a recoverable (transport) error. The connection pool picks the
 * next endpoint on each attempt. Only `execute` is used by etcd3.
 */
const retryPolicy = (attempts: number): Policy =>
  ({
    execute: async <T>(
      fn: (context: { signal: AbortSignal }) => PromiseLike<T> | T,
      signal?: AbortSignal
    ) => {
      const context = { signal: signal ?? new AbortController().signal }
      for (let attempt = 1; ; attempt++) {
        try {
          return await fn(context)
        } catch (error) {
          if (attempt >= attempts || !(error instanceof Error) || !isRecoverableError(error)) throw error
        }
      }
    }
  }) as unknown as Policy

/** Watch streams are re-opened by this module, not by etcd3's own backoff; keep its timer short. */
const shortBackoff: Backoff = { duration: 250, next: () => shortBackoff } as unknown as Backoff

/** The end of etcd's prefix range: the prefix with its last byte incremented. */
export const prefixEnd = (prefix: Buffer): Buffer => {
  const end = Buffer.from(prefix)
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i] = end[i]! + 1
      return end.subarray(0, i + 1)
    }
  }
  return Buffer.from([0]) // every key
}

const normalizePrefix = (prefix: string | undefined): string => {
  const trimmed = (prefix ?? "").replace(/^\/+|\/+$/g, "")
  return trimmed === "" ? "" : trimmed + "/"
}

export const endpointUrl = (endpoint: string, tls: boolean): string =>
  /^https?:\/\//i.test(endpoint) ? endpoint : `${tls ? "https" : "http"}://${endpoint}`

const byKey = (a: KvPair, b: KvPair) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)

const samePairs = (a: ReadonlyArray<KvPair>, b: ReadonlyArray<KvPair>) =>
  a.length === b.length && a.every((p, i) => p.key === b[i]!.key && p.value === b[i]!.value)

const describe = (cause: unknown): string =>
  cause instanceof Error ? cause.message.replace(/\s+/g, " ").trim() : String(cause)

const readTls = (tls: TlsFiles) =>
  Effect.gen(function* () {
    const read = (option: string, path: string | undefined) =>
      path === undefined
        ? Effect.succeed(undefined)
        : Effect.tryPromise({
            try: () => readFile(path),
            catch: (cause) =>
              new KvError({
                store: STORE,
                reason: "Invalid",
                detail: `cannot read ${option} ${path}: ${describe(cause)}`,
                cause
              })
          })
    const ca = yield* read("kv.cacertfile", tls.ca)
    const cert = yield* read("kv.certfile", tls.cert)
    const key = yield* read("kv.keyfile", tls.key)
    if ((cert === undefined) !== (key === undefined)) {
      return yield* new KvError({
        store: STORE,
        reason: "Invalid",
        detail: "kv.certfile and kv.keyfile go together: give both for client certificates, or neither"
      })
    }
    // grpc-js takes `null` roots to mean the system's trusted CAs.
    return {
      rootCertificate: (ca ?? null) as Buffer,
      ...(key ? { privateKey: key } : {}),
      ...(cert ? { certChain: cert } : {})
    }
  })

export const make = (config: EtcdConfig): Effect.Effect<KvStoreShape, KvError, Scope.Scope> =>
  Effect.gen(function* () {
    if (config.endpoints.length === 0) {
      return yield* new KvError({ store: STORE, reason: "Invalid", detail: "no etcd endpoint given" })
    }
    const timeout = Duration.decode(config.timeout ?? DEFAULT_TIMEOUT)
    const timeoutMs = Duration.toMillis(timeout)
    const hosts = config.endpoints.map((e) => endpointUrl(e, config.tls !== undefined))
    const where = `etcd at ${config.endpoints.join(",")}`
    const namespace = normalizePrefix(config.prefix)
    const credentials = config.tls ? yield* readTls(config.tls) : undefined
    const scope = yield* Effect.scope

    const client = yield* Effect.acquireRelease(
      Effect.try({
        try: () =>
          new Etcd3({
            hosts,
            ...(credentials ? { credentials } : {}),
            grpcOptions: {
              // Reconnect quickly after an etcd restart instead of grpc's 1s..120s backoff.
              "grpc.initial_reconnect_backoff_ms": 100,
              "grpc.max_reconnect_backoff_ms": 1000,
              "grpc.use_local_subchannel_pool": 1,
              // Notice a silently dead peer under a long-lived watch.
              "grpc.keepalive_time_ms": 15_000,
              "grpc.keepalive_timeout_ms": 5_000
            },
            defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + timeoutMs }),
            faultHandling: {
              host: () => retryPolicy(1),
              global: retryPolicy(Math.max(2, hosts.length + 1)),
              watchBackoff: shortBackoff
            }
          }),
        catch: (cause) =>
          new KvError({
            store: STORE,
            reason: "Invalid",
            detail: `bad etcd endpoints: ${describe(cause)}`,
            cause
          })
      }),
      (client) => Effect.sync(() => client.close())
    )

    const fullKey = (key: string) => Buffer.from(namespace + key)
    const userKey = (key: Buffer) => key.toString().slice(namespace.length)
    const prefixRange = (prefix: string) => {
      const start = Buffer.from(namespace + prefix)
      return { key: start, range_end: prefixEnd(start) }
    }

    /** One etcd call, its failure described with the endpoints, bounded in time. */
    const call = <A>(what: string, f: () => Promise<A>): Effect.Effect<A, KvError> =>
      Effect.tryPromise({
        try: f,
        catch: (cause) => {
          const name = cause instanceof Error ? cause.constructor.name : ""
          const reason =
            name === "GRPCDeadlineExceededError"
              ? ("Timeout" as const)
              : cause instanceof Error && (isRecoverableError(cause) || name === "GRPCUnavailableError")
                ? ("Unavailable" as const)
                : ("BadResponse" as const)
          const hint = reason === "BadResponse" ? "" : " (is etcd running and reachable there?)"
          return new KvError({
            store: STORE,
            reason,
            detail: `${what} on ${where}: ${describe(cause)}${hint}`,
            cause
          })
        }
      }).pipe(
        // Abandonable even inside a finalizer (a leave while etcd is down), so the timeout holds.
        Effect.interruptible,
        Effect.timeoutFail({
          duration: timeout,
          onTimeout: () =>
            new KvError({
              store: STORE,
              reason: "Timeout",
              detail: `${what}: no answer from ${where} within ${Duration.format(timeout)}`
            })
        })
      )

    // Leases this store granted, by full key, so the previous one can be revoked on refresh.
    const leases = new Map<string, { readonly id: string; readonly expiresAt: number }>()

    const revokeLater = (id: string) =>
      call(`revoke lease ${id}`, () => client.leaseClient.leaseRevoke({ ID: id })).pipe(
        Effect.ignore,
        Effect.forkIn(scope),
        Effect.asVoid
      )

    /** Forget leases that have expired anyway, so the map stays as small as the live keys. */
    const pruneLeases = (now: number) => {
      if (leases.size < 1024) return
      for (const [key, lease] of leases) if (lease.expiresAt < now) leases.delete(key)
    }

    const countUnder = (prefix: string) =>
      call(`count ${prefix}`, () => client.kv.range({ ...prefixRange(prefix), count_only: true })).pipe(
        Effect.map((res) => Number(res.count))
      )

    const exists = (key: string) =>
      call(`get ${key}`, () => client.kv.range({ key: fullKey(key), count_only: true })).pipe(
        Effect.map((res) => Number(res.count) > 0)
      )

    const put = (key: string, value: string, options?: PutOptions): Effect.Effect<PutResult, KvError> =>
      Effect.gen(function* () {
        const limit = options?.limit
        if (limit !== undefined && (yield* countUnder(limit.prefix)) >= limit.max && !(yield* exists(key))) {
          return yield* new KvError({
            store: STORE,
            reason: "LimitExceeded",
            detail: `${limit.prefix} already holds ${limit.max} keys`
          })
        }
        const full = fullKey(key)
        const mapKey = full.toString()
        if (options?.ttl === undefined) {
          const res = yield* call(`put ${key}`, () =>
            client.kv.put({ key: full, value: Buffer.from(value), prev_kv: true })
          )
          const old = leases.get(mapKey)
          leases.delete(mapKey)
          if (old) yield* revokeLater(old.id)
          return res.prev_kv ? "updated" : "created"
        }
        const ttlMs = Duration.toMillis(Duration.decode(options.ttl))
        const seconds = Math.max(1, Math.ceil(ttlMs / 1000))
        const grant = yield* call(`grant a ${seconds}s lease for ${key}`, () =>
          client.leaseClient.leaseGrant({ TTL: seconds, ID: 0 })
        )
        if (grant.error) {
          return yield* new KvError({
            store: STORE,
            reason: "BadResponse",
            detail: `lease grant: ${grant.error}`
          })
        }
        const res = yield* call(`put ${key}`, () =>
          client.kv.put({ key: full, value: Buffer.from(value), lease: grant.ID, prev_kv: true })
        ).pipe(Effect.tapError(() => revokeLater(grant.ID)))
        const now = yield* Clock.currentTimeMillis
        const old = leases.get(mapKey)
        leases.set(mapKey, { id: grant.ID, expiresAt: now + Number(grant.TTL) * 1000 })
        pruneLeases(now)
        if (old && old.id !== grant.ID) yield* revokeLater(old.id)
        return res.prev_kv ? "updated" : "created"
      })

    const forget = (keys: ReadonlyArray<IKeyValue>) =>
      Effect.forEach(
        keys,
        (kv) => {
          const lease = leases.get(kv.key.toString())
          leases.delete(kv.key.toString())
          return lease ? revokeLater(lease.id) : Effect.void
        },
        { discard: true }
      )

    const remove = (key: string) =>
      call(`delete ${key}`, () => client.kv.deleteRange({ key: fullKey(key), prev_kv: true })).pipe(
        Effect.tap((res) => forget(res.prev_kvs ?? [])),
        Effect.map((res) => Number(res.deleted) > 0)
      )

    const deletePrefix = (prefix: string) =>
      call(`delete ${prefix}*`, () => client.kv.deleteRange({ ...prefixRange(prefix), prev_kv: true })).pipe(
        Effect.tap((res) => forget(res.prev_kvs ?? [])),
        Effect.map((res) => Number(res.deleted))
      )

    const rangeOf = (prefix: string) =>
      call(`list ${prefix}`, () =>
        client.kv.range({ ...prefixRange(prefix), sort_order: "Ascend", sort_target: "Key" })
      ).pipe(
        Effect.map((res) => ({
          pairs: res.kvs.map((kv) => ({ key: userKey(kv.key), value: kv.value.toString() })),
          revision: BigInt(res.header.revision)
        }))
      )

    const list = (prefix: string) =>
      Effect.map(rangeOf(prefix), ({ pairs, revision }): KvSnapshot => ({ pairs, index: Number(revision) }))

    // From the leases themselves (whole seconds), so every instance sharing the etcd agrees.
    const expiries = (prefix: string): Effect.Effect<ReadonlyMap<string, number>, KvError> =>
      Effect.gen(function* () {
        const res = yield* call(`list ${prefix}`, () =>
          client.kv.range({ ...prefixRange(prefix), keys_only: true })
        )
        const now = yield* Clock.currentTimeMillis
        const out = new Map<string, number>()
        yield* Effect.forEach(
          res.kvs.filter((kv) => kv.lease !== "0"),
          (kv) =>
            call(`lease ${kv.lease}`, () => client.leaseClient.leaseTimeToLive({ ID: kv.lease })).pipe(
              Effect.map((lease) => {
                if (Number(lease.TTL) >= 0) out.set(userKey(kv.key), now + Number(lease.TTL) * 1000)
              })
            ),
          { concurrency: 16, discard: true }
        )
        return out
      })

    const watch = (prefix: string): Stream.Stream<KvSnapshot, KvError> =>
      Stream.unwrapScoped(
        Effect.gen(function* () {
          const range = prefixRange(prefix)
          const initial = yield* rangeOf(prefix)
          const state = new Map(initial.pairs.map((p) => [p.key, p.value]))
          let revision = initial.revision
          let emitted: KvSnapshot = { pairs: initial.pairs, index: Number(initial.revision) }
          const queue = yield* Effect.acquireRelease(Queue.sliding<KvSnapshot>(64), Queue.shutdown)
          const emit = () => {
            emitted = {
              pairs: [...state].map(([key, value]) => ({ key, value })).sort(byKey),
              // The revision, kept growing even if etcd's went back (a rebuilt cluster).
              index: Math.max(Number(revision), emitted.index + 1)
            }
            Queue.unsafeOffer(queue, emitted)
          }
          yield* Queue.offer(queue, emitted)

          type Outcome = { readonly _tag: "Disconnected" | "Canceled"; readonly cause: unknown }

          /** One etcd watch from `revision + 1`, until its stream breaks or etcd cancels it. */
          const session = Effect.acquireUseRelease(
            Effect.sync(() => {
              const outcome = Deferred.unsafeMake<Outcome>(undefined as never)
              let active = true
              let connected = false
              const end = (o: Outcome) => {
                if (!active) return
                active = false
                Deferred.unsafeDone(outcome, Effect.succeed(o))
              }
              const w = client
                .watch()
                .inRange({ start: range.key, end: range.range_end })
                .startRevision(String(revision + 1n))
                .watcher()
              w.on("connected", (res: IWatchResponse) => {
                connected = true
                // An etcd whose revision went back (restored or rebuilt) would only answer from our old
                // revision on: list again instead.
                if (BigInt(res.header.revision) < revision) {
                  end({
                    _tag: "Canceled",
                    cause: new Error(`etcd is at revision ${res.header.revision}, behind ours`)
                  })
                }
              })
              w.on("data", (res: IWatchResponse) => {
                if (!active) return
                for (const event of res.events) {
                  const key = userKey(event.kv.key)
                  if (String(event.type).toLowerCase() === "delete") state.delete(key)
                  else state.set(key, event.kv.value.toString())
                }
                const at = BigInt(res.header.revision)
                if (at > revision) revision = at
                if (res.events.length > 0) emit()
              })
              w.on("disconnected", (cause: unknown) => end({ _tag: "Disconnected", cause }))
              w.on("error", (cause: unknown) => end({ _tag: "Canceled", cause }))
              return { w, outcome, wasConnected: () => connected, stop: () => (active = false) }
            }),
            (s) =>
              Effect.map(Deferred.await(s.outcome), (outcome) => ({ outcome, connected: s.wasConnected() })),
            (s) =>
              Effect.suspend(() => {
                s.stop()
                return Effect.promise(() => s.w.cancel()).pipe(
                  Effect.timeout(Duration.seconds(1)),
                  Effect.ignore
                )
              })
          )

          /** After a cancel (e.g. compaction past our revision): start again from a fresh range. */
          const relist = rangeOf(prefix).pipe(
            Effect.tap((fresh) =>
              Effect.sync(() => {
                state.clear()
                for (const p of fresh.pairs) state.set(p.key, p.value)
                revision = fresh.revision
                if (!samePairs(fresh.pairs, emitted.pairs)) emit()
              })
            ),
            Effect.tapError((error) =>
              Effect.logDebug(`etcd watch of ${prefix}: re-list failed: ${error.message}`)
            ),
            Effect.retry({ schedule: reconnectDelays() })
          )

          const loop = Effect.gen(function* () {
            let failures = 0
            for (;;) {
              const { outcome, connected } = yield* session
              if (connected) failures = 0
              failures++
              if (outcome._tag === "Canceled") {
                yield* Effect.logDebug(
                  `etcd watch of ${prefix} canceled (${describe(outcome.cause)}); listing again`
                )
                yield* relist
              } else {
                yield* Effect.logDebug(
                  `etcd watch of ${prefix} lost its stream (${describe(outcome.cause)}); resuming at revision ${revision + 1n}`
                )
              }
              // Try each endpoint quickly, then back off up to 2s while none answers.
              const beyond = failures - hosts.length
              yield* Effect.sleep(
                Duration.millis(beyond <= 0 ? 50 : Math.min(2000, 50 * 2 ** Math.min(beyond, 6)))
              )
            }
          })
          yield* Effect.forkScoped(loop)
          return Stream.fromQueue(queue)
        })
      )

    return { put, delete: remove, deletePrefix, list, watch, expiries }
  })

/** Exponential from 100ms, capped at 2s, forever. */
const reconnectDelays = () =>
  Schedule.exponential(Duration.millis(100)).pipe(Schedule.union(Schedule.spaced(Duration.seconds(2))))

export const layer = (config: EtcdConfig): Layer.Layer<KvStore, KvError> =>
  Layer.scoped(KvStore, make(config))
