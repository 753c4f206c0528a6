/**
 * Every instance over one etcd prefix must hold leases the same way. An
 * instance keeping one lease per entry adopts the lease it finds on a key and
 * keeps it alive; on a lease shared by time that keeps every other entry on it
 * alive too, past its TTL. And a shared instance's late put could move a key
 * off the lease a per-key instance keeps alive for it.
 *
 * So the first instance over a prefix records its mode there (a reserved key,
 * with no lease: it outlives every instance), and an instance started with the
 * other mode is refused before it writes anything.
 */
import { Deferred, Effect, FiberId, type Scope } from "effect"
import { KvError } from "../../KvStore.js"
import { type Connection, STORE } from "./connection.js"

export type LeaseMode = "per-key" | "shared"

/** The reserved key's name under the prefix (`Connection.reservedKey`). */
export const NAME = "lease-mode"

/** What to do about a prefix recorded with `recorded`, for the refusal. */
const mismatch = (conn: Connection, recorded: string, mode: LeaseMode) =>
  `lease mode ${JSON.stringify(mode)} does not match ${JSON.stringify(recorded)}, recorded for the prefix ` +
  `${JSON.stringify(conn.namespace)} in ${conn.where} by the first instance over it: every instance over one ` +
  `prefix must use the same lease mode, or entries outlive their TTL. Start this one with ` +
  `--store-opt kv.leases=${recorded} (the store option leases: ${JSON.stringify(recorded)}), or over another prefix`

/** Records `mode` for the prefix when none is, else checks it is the one recorded. */
export const claim = (conn: Connection, mode: LeaseMode): Effect.Effect<void, KvError> =>
  Effect.gen(function* () {
    const key = conn.reservedKey(NAME)
    const res = yield* conn.call("record the lease mode", () =>
      conn.client.kv.txn({
        compare: [{ key, target: "Create", result: "Equal", create_revision: "0" }],
        success: [{ request_put: { key, value: Buffer.from(mode) } }],
        failure: [{ request_range: { key } }]
      })
    )
    if (res.succeeded) return
    // A retried attempt whose first copy applied finds its own mode: that is a match too.
    const recorded = res.responses[0]?.response_range?.kvs[0]?.value.toString() ?? "(none)"
    if (recorded !== mode)
      return yield* new KvError({ store: STORE, reason: "Invalid", detail: mismatch(conn, recorded, mode) })
  })

/**
 * The claim, made once: before the store's first put (a store that only reads writes nothing), or earlier by
 * whoever calls it (`swarm serve` at start, so a misconfigured instance does not start). Concurrent askers share
 * one attempt, run in the store's scope (an asker that goes away strands no other); a failed one is tried again
 * by the next asker.
 */
export const make = (
  conn: Connection,
  mode: LeaseMode
): Effect.Effect<Effect.Effect<void, KvError>, never, Scope.Scope> =>
  Effect.map(Effect.scope, (scope) => {
    let done = false
    let running: Deferred.Deferred<void, KvError> | undefined
    return Effect.suspend(() => {
      if (done) return Effect.void
      if (running !== undefined) return Deferred.await(running)
      const attempt = Deferred.unsafeMake<void, KvError>(FiberId.none)
      running = attempt
      return claim(conn, mode).pipe(
        Effect.tap(() => Effect.sync(() => (done = true))),
        Effect.intoDeferred(attempt),
        Effect.ensuring(Effect.sync(() => running === attempt && (running = undefined))),
        Effect.forkIn(scope),
        Effect.zipRight(Deferred.await(attempt))
      )
    })
  })
