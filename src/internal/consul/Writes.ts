/**
 * The store's writes over the KV endpoints and sessions. A put with a TTL
 * renews its session while it reads the key; a refresh of a key our session
 * holds with the same value is then done (one round trip, no write, no
 * watcher woken), any other put writes it (two round trips).
 */
import { Effect } from "effect"
import { KvError, type KvStoreShape, type PutOptions, type PutResult } from "../../KvStore.js"
import * as Endpoint from "./Endpoint.js"
import type { Kv } from "./Kv.js"
import type { Sessions } from "./Sessions.js"

export const make = (
  kv: Kv,
  sessions: Sessions,
  sessionTtlMillis: (ttl: NonNullable<PutOptions["ttl"]>) => number
): Pick<KvStoreShape, "put" | "delete" | "deletePrefix"> => {
  const put = (rawKey: string, value: string, options?: PutOptions): Effect.Effect<PutResult, KvError> =>
    Effect.gen(function* () {
      const key = Endpoint.normalize(rawKey)
      if (key === "") return yield* Endpoint.invalid("a key must not be empty")
      const ttlMillis = options?.ttl === undefined ? undefined : sessionTtlMillis(options.ttl)
      const limit = options?.limit
      // Without a limit to check first, the session is renewed while the key is read.
      const [existing, session] = yield* Effect.all(
        [
          kv.get(key),
          ttlMillis === undefined || limit !== undefined
            ? Effect.succeed(undefined)
            : sessions.sessionFor(ttlMillis)
        ],
        { concurrency: 2 }
      )
      if (existing === undefined && limit !== undefined) {
        if ((yield* kv.count(Endpoint.normalize(limit.prefix))) >= limit.max) {
          return yield* new KvError({
            store: Endpoint.STORE,
            reason: "LimitExceeded",
            detail: `${limit.prefix} already holds ${limit.max} keys`
          })
        }
      }
      if (ttlMillis !== undefined) {
        const unchanged = existing?.session !== undefined && existing.value === value
        const id = unchanged ? (session ?? (yield* sessions.sessionFor(ttlMillis))) : session
        // A heartbeat: the key is ours and unchanged, and renewing the session kept it alive. Writing it again
        // would wake every watcher of the prefix for nothing.
        if (unchanged && existing?.session === id) return "updated"
        yield* sessions.acquire(key, value, ttlMillis, id)
      } else if (existing?.session !== undefined && sessions.isOurs(existing.session)) {
        // Write and let go, so the key outlives our session.
        yield* kv.put(key, value, { release: existing.session })
      } else {
        // Another session's key would die with it; a put without a TTL is for good.
        if (existing?.session !== undefined) yield* kv.remove(key)
        yield* kv.put(key, value)
      }
      return existing === undefined ? "created" : "updated"
    })

  const remove = (rawKey: string) =>
    Effect.gen(function* () {
      const key = Endpoint.normalize(rawKey)
      if (key === "") return false
      const existing = yield* kv.get(key)
      yield* kv.remove(key)
      return existing !== undefined
    })

  const deletePrefix = (rawPrefix: string) =>
    Effect.gen(function* () {
      const prefix = Endpoint.normalize(rawPrefix)
      const count = yield* kv.count(prefix)
      yield* kv.removeTree(prefix)
      return count
    })

  return { put, delete: remove, deletePrefix }
}
