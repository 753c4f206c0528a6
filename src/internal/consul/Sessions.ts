/**
 * TTL sessions: one per distinct TTL, created on first use, renewed by every
 * put that uses it, re-created when Consul has invalidated it (renew answers
 * 404), destroyed when the store's scope closes (which deletes their keys).
 *
 * Sessions are created with `LockDelay: 0s`: Consul's default of 15s would
 * refuse to re-acquire a key for 15s after its session lapsed, so a node that
 * comes back would stay unregistered that long.
 */
import { Effect, type Scope } from "effect"
import * as GoDuration from "../../GoDuration.js"
import { KvError } from "../../KvStore.js"
import { decision, decodeSessionId, expectStatus } from "./Answers.js"
import type { Client } from "./Client.js"
import { kvPath, STORE } from "./Endpoint.js"
import type { Kv } from "./Kv.js"

export interface Sessions {
  /** The live session for this TTL: renewed, or created when missing or invalidated. */
  readonly sessionFor: (ttlMillis: number) => Effect.Effect<string, KvError>
  /**
   * Writes the key under the session for this TTL (`session`, when the caller has just got it from `sessionFor`);
   * takes the key over if another session holds it.
   */
  readonly acquire: (
    key: string,
    value: string,
    ttlMillis: number,
    session?: string
  ) => Effect.Effect<void, KvError>
  /** Whether a session id is one of ours (so a put without TTL may release the key rather than delete it). */
  readonly isOurs: (session: string) => boolean
}

/** Tries per put: a session may lapse between its renewal and the write, or another may hold the key. */
const TRIES = 3

export const make = (client: Client, kv: Kv, name: string): Effect.Effect<Sessions, never, Scope.Scope> =>
  Effect.gen(function* () {
    const { origin } = client
    /** Session TTL (ms) → the live session's id. */
    const live = new Map<number, string>()
    const lock = yield* Effect.makeSemaphore(1)

    const create = (ttlMillis: number) => {
      const body = JSON.stringify({
        Name: name,
        TTL: GoDuration.format(ttlMillis),
        Behavior: "delete",
        LockDelay: "0s"
      })
      return Effect.flatMap(client.request("PUT", "/v1/session/create", { body }), (reply) =>
        decodeSessionId(origin, reply)
      )
    }

    /** False when Consul no longer knows the session (it was invalidated). */
    const renew = (id: string) =>
      Effect.flatMap(client.request("PUT", `/v1/session/renew/${encodeURIComponent(id)}`), (reply) =>
        reply.status === 404 ? Effect.succeed(false) : Effect.as(expectStatus(origin, reply, [200]), true)
      )

    const destroy = (id: string) =>
      client.deadline(
        `a destroy of session ${id}`,
        Effect.flatMap(client.request("PUT", `/v1/session/destroy/${encodeURIComponent(id)}`), (reply) =>
          expectStatus(origin, reply, [200])
        )
      )

    /** The live session for this TTL: renewed, or created when missing or invalidated. */
    const sessionFor = (ttlMillis: number) =>
      lock.withPermits(1)(
        Effect.gen(function* () {
          const current = live.get(ttlMillis)
          if (current !== undefined) {
            if (yield* renew(current)) return current
            live.delete(ttlMillis)
            yield* Effect.logDebug(`Consul session ${current} was invalidated; creating a new one`)
          }
          const id = yield* create(ttlMillis)
          live.set(ttlMillis, id)
          return id
        })
      )

    yield* Effect.addFinalizer(() =>
      Effect.forEach(
        [...live.values()],
        (id) =>
          destroy(id).pipe(
            Effect.catchAll((error) =>
              Effect.logWarning(`could not destroy Consul session ${id}: ${error.message}`)
            )
          ),
        { discard: true }
      )
    )

    const acquire = (
      key: string,
      value: string,
      ttlMillis: number,
      session?: string,
      tries = 1
    ): Effect.Effect<void, KvError> =>
      Effect.gen(function* () {
        const id = session ?? (yield* sessionFor(ttlMillis))
        const reply = yield* client.request("PUT", kvPath(key), { query: { acquire: id }, body: value })
        if (reply.status === 500 && /invalid session/i.test(reply.body) && tries < TRIES) {
          // Invalidated between the renewal and the write.
          if (live.get(ttlMillis) === id) live.delete(ttlMillis)
          return yield* acquire(key, value, ttlMillis, undefined, tries + 1)
        }
        if (yield* decision(origin, reply)) return
        if (tries < TRIES) {
          // Held by another session (say, a previous run of this node): a put overwrites, so take the key over.
          yield* kv.remove(key)
          return yield* acquire(key, value, ttlMillis, undefined, tries + 1)
        }
        return yield* new KvError({
          store: STORE,
          reason: "BadResponse",
          detail: `Consul at ${origin} keeps ${key} locked by another session`
        })
      })

    return { sessionFor, acquire, isOurs: (session) => [...live.values()].includes(session) }
  })
