/**
 * The store's writes over the KV endpoints, transactions and sessions.
 *
 * A put with a TTL is one round trip either way:
 * - a refresh (the value we last wrote to the key) reads the key while it
 *   renews the session; if the key is still ours and unchanged, that is all:
 *   nothing is written and no watcher wakes;
 * - anything else is one transaction that reads and locks the key (Txn.ts);
 *   the session's renewal follows it, so watchers hear of the write first.
 * What we last wrote is only a hint for which of the two to try first: the
 * refresh checks Consul's copy, and the write always writes.
 */
import { Effect } from "effect"
import { KvError, type KvStoreShape, type PutOptions, type PutResult } from "../../KvStore.js"
import type { Entry as KvEntry } from "./answers.js"
import type { Client } from "./client.js"
import * as Endpoint from "./endpoint.js"
import type { Kv } from "./kv.js"
import { type Sessions, sessionTtlMillis } from "./sessions.js"
import * as Txn from "./txn.js"

/** Tries per write: a session may lapse between its renewal and the write, or another may hold the key. */
const TRIES = 3
/** What we last wrote, per key; forgotten wholesale past this (it is only a hint). */
const HINTS = 10_000

/** What we last wrote, per key: a hint only, so it is forgotten wholesale when it grows. */
const makeHints = () => {
  const written = new Map<string, string>()
  return {
    written,
    remember: (key: string, value: string) => {
      if (written.size >= HINTS) written.clear()
      written.set(key, value)
    }
  }
}

type Hints = ReturnType<typeof makeHints>

/** Locks the key under the TTL's session; true if it was there before. `renewed`: a session just renewed. */
const locker =
  (client: Client, sessions: Sessions, { remember }: Hints) =>
  (key: string, value: string, ttlMillis: number, renewed?: string) => {
    const attempt = (id: string, takeOver: boolean, tries: number): Effect.Effect<boolean, KvError> =>
      Effect.flatMap(Txn.lock(client, key, value, id, takeOver), (outcome) => {
        if (outcome._tag === "Locked") {
          remember(key, value)
          return Effect.succeed(outcome.existed)
        }
        if (tries >= TRIES) return Effect.fail(Txn.stillLocked(client.origin, key))
        if (outcome._tag === "Held") return attempt(id, true, tries + 1)
        // The session lapsed between its renewal and the write.
        sessions.forget(ttlMillis, id)
        return Effect.flatMap(sessions.sessionFor(ttlMillis), (fresh) => attempt(fresh, takeOver, tries + 1))
      })
    if (renewed !== undefined) return attempt(renewed, false, 1)
    const known = sessions.current(ttlMillis)
    if (known === undefined)
      return Effect.flatMap(sessions.sessionFor(ttlMillis), (id) => attempt(id, false, 1))
    // The renewal keeps the session's other keys alive; after the write, so watchers hear of it first.
    return Effect.tap(attempt(known, false, 1), () => sessions.sessionFor(ttlMillis))
  }

/** A put without a TTL: the key is kept for good, whichever session held it. */
const putForGood = (kv: Kv, sessions: Sessions, key: string, value: string, existing: KvEntry | undefined) =>
  Effect.gen(function* () {
    if (existing?.session !== undefined && sessions.isOurs(existing.session)) {
      // Write and let go, so the key outlives our session.
      yield* kv.put(key, value, { release: existing.session })
    } else {
      // Another session's key would die with it; a put without a TTL is for good.
      if (existing?.session !== undefined) yield* kv.remove(key)
      yield* kv.put(key, value)
    }
  })

const checkLimit = (kv: Kv, limit: NonNullable<PutOptions["limit"]>) =>
  Effect.flatMap(kv.count(Endpoint.normalize(limit.prefix)), (keys) =>
    keys < limit.max
      ? Effect.void
      : new KvError({
          store: Endpoint.STORE,
          reason: "LimitExceeded",
          detail: `${limit.prefix} already holds ${limit.max} keys`
        })
  )

export const make = (
  client: Client,
  kv: Kv,
  sessions: Sessions
): Pick<KvStoreShape, "put" | "delete" | "deletePrefix"> => {
  const hints = makeHints()
  const { written } = hints
  const lock = locker(client, sessions, hints)

  const putWithTtl = (key: string, value: string, ttlMillis: number) =>
    Effect.gen(function* () {
      let renewed: string | undefined
      if (written.get(key) === value) {
        const [existing, id] = yield* Effect.all([kv.get(key), sessions.sessionFor(ttlMillis)], {
          concurrency: 2
        })
        // A heartbeat: renewing the session kept the key alive. Writing it again would wake every watcher.
        if (existing?.session === id && existing.value === value) return "updated" as const
        renewed = id
      }
      return (yield* lock(key, value, ttlMillis, renewed)) ? ("updated" as const) : ("created" as const)
    })

  const put = (rawKey: string, value: string, options?: PutOptions): Effect.Effect<PutResult, KvError> =>
    Effect.gen(function* () {
      const key = Endpoint.normalize(rawKey)
      if (key === "") return yield* Endpoint.invalid("a key must not be empty")
      const ttlMillis = options?.ttl === undefined ? undefined : sessionTtlMillis(options.ttl)
      const limit = options?.limit
      if (ttlMillis !== undefined && limit === undefined) return yield* putWithTtl(key, value, ttlMillis)
      const existing = yield* kv.get(key)
      if (existing === undefined && limit !== undefined) yield* checkLimit(kv, limit)
      const result = existing === undefined ? "created" : "updated"
      if (ttlMillis !== undefined) {
        yield* lock(key, value, ttlMillis)
        return result
      }
      written.delete(key)
      yield* putForGood(kv, sessions, key, value, existing)
      return result
    })

  const remove = (rawKey: string) =>
    Effect.gen(function* () {
      const key = Endpoint.normalize(rawKey)
      if (key === "") return false
      written.delete(key)
      const existing = yield* kv.get(key)
      yield* kv.remove(key)
      return existing !== undefined
    })

  const deletePrefix = (rawPrefix: string) =>
    Effect.gen(function* () {
      const prefix = Endpoint.normalize(rawPrefix)
      for (const key of [...written.keys()]) if (key.startsWith(prefix)) written.delete(key)
      const count = yield* kv.count(prefix)
      yield* kv.removeTree(prefix)
      return count
    })

  return { put, delete: remove, deletePrefix }
}
