/**
 * The one write a TTL put makes: a transaction (`PUT /v1/txn`) that reads the
 * key and locks it under our session, so the write reaches watchers after a
 * single round trip and the read says whether the key was there before.
 *
 * Consul runs the operations in order and all or nothing (agent/consul/state/
 * txn.go): `get-tree` sees the state before the lock, and a failed lock
 * rolls everything back and answers 409 with the reasons. A key held by
 * another session is taken over with `delete` then `lock`, in one
 * transaction, so no one sees it missing in between.
 */
import { Effect, Schema } from "effect"
import { KvError } from "../../KvStore.js"
import { badResponse, decode } from "./answers.js"
import type { Client } from "./client.js"
import { STORE } from "./endpoint.js"

export type LockOutcome =
  | { readonly _tag: "Locked"; readonly existed: boolean }
  /** Another session holds the key. */
  | { readonly _tag: "Held" }
  /** Consul no longer knows our session (it lapsed). */
  | { readonly _tag: "InvalidSession" }

const TxnAnswer = Schema.Struct({
  Results: Schema.NullOr(
    Schema.Array(Schema.Struct({ KV: Schema.optional(Schema.NullOr(Schema.Struct({ Key: Schema.String }))) }))
  ),
  Errors: Schema.NullOr(Schema.Array(Schema.Struct({ OpIndex: Schema.Number, What: Schema.String })))
})

const answer = decode(TxnAnswer, "a transaction's results", [200, 409])

export const lock = (
  client: Client,
  key: string,
  value: string,
  session: string,
  takeOver: boolean
): Effect.Effect<LockOutcome, KvError> => {
  const ops = [
    { KV: { Verb: "get-tree", Key: key } },
    ...(takeOver ? [{ KV: { Verb: "delete", Key: key } }] : []),
    { KV: { Verb: "lock", Key: key, Value: Buffer.from(value).toString("base64"), Session: session } }
  ]
  return Effect.flatMap(client.request("PUT", "/v1/txn", { body: JSON.stringify(ops) }), (reply) =>
    Effect.flatMap(
      answer(client.origin, reply),
      ({ Errors, Results }): Effect.Effect<LockOutcome, KvError> => {
        if (reply.status === 200) {
          // The get-tree's entries come first (a prefix read: the exact key, or keys that extend it), the lock's last.
          const read = (Results ?? []).slice(0, -1)
          return Effect.succeed({ _tag: "Locked", existed: read.some((r) => r.KV?.Key === key) })
        }
        const reasons = (Errors ?? []).map((e) => e.What)
        if (reasons.some((what) => /^invalid session/i.test(what)))
          return Effect.succeed({ _tag: "InvalidSession" })
        if (reasons.some((what) => /lock is already held/.test(what))) return Effect.succeed({ _tag: "Held" })
        // Say, "Permission denied" (ACLs), or a lock delay on a session not created by this store.
        return Effect.fail(
          badResponse(client.origin, reply, `the transaction on ${key} failed: ${reasons.join("; ")}`)
        )
      }
    )
  )
}

export const stillLocked = (origin: string, key: string): KvError =>
  new KvError({
    store: STORE,
    reason: "BadResponse",
    detail: `Consul at ${origin} keeps ${key} locked by another session`
  })
