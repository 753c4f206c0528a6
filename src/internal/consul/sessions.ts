/**
 * TTL sessions: one per distinct TTL, created on first use, renewed by every
 * put that uses it, re-created when Consul has invalidated it (renew answers
 * 404), destroyed when the store's scope closes (which deletes their keys).
 *
 * Sessions are created with `LockDelay: 0s`: Consul's default of 15s would
 * refuse to re-acquire a key for 15s after its session lapsed, so a node that
 * comes back would stay unregistered that long.
 */
import { Duration, Effect, type Scope } from "effect"
import * as GoDuration from "../../GoDuration.js"
import type { KvError } from "../../KvStore.js"
import { decodeSessionId, expectStatus } from "./answers.js"
import type { Client } from "./client.js"

const SESSION_TTL_MIN = 10_000
const SESSION_TTL_MAX = 24 * 3_600_000

/** The session TTL for a requested key TTL: half of it (Consul waits up to twice), within Consul's bounds. */
export const sessionTtlMillis = (ttl: Duration.DurationInput): number =>
  Math.min(
    SESSION_TTL_MAX,
    Math.max(SESSION_TTL_MIN, Math.floor(Duration.toMillis(Duration.decode(ttl)) / 2))
  )

export interface Sessions {
  /** The live session for this TTL: renewed, or created when missing or invalidated. */
  readonly sessionFor: (ttlMillis: number) => Effect.Effect<string, KvError>
  /** The session for this TTL as last seen alive, without asking Consul. */
  readonly current: (ttlMillis: number) => string | undefined
  /** Forgets the session for this TTL if it is still `id` (Consul said it is gone). */
  readonly forget: (ttlMillis: number, id: string) => void
  /** Whether a session id is one of ours (so a put without TTL may release the key rather than delete it). */
  readonly isOurs: (session: string) => boolean
}

export const make = (client: Client, name: string): Effect.Effect<Sessions, never, Scope.Scope> =>
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

    return {
      sessionFor,
      current: (ttlMillis) => live.get(ttlMillis),
      forget: (ttlMillis, id) => {
        if (live.get(ttlMillis) === id) live.delete(ttlMillis)
      },
      isOurs: (session) => [...live.values()].includes(session)
    }
  })
