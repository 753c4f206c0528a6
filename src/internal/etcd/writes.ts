/**
 * The writes both lease modes share (`leases.ts`, `sharedLeases.ts`): a put
 * without a TTL, deletes, and the kept counts they move. Each mode brings its
 * put with a TTL and what a key's leaving its lease costs.
 *
 * A delete must not be undone by a late copy of a put acknowledged before it
 * (etcd may apply a copy of a write after its answer came through another
 * attempt: the HA suite saw a create sent to an etcd leader paused by SIGSTOP,
 * retried on another member and acknowledged, applied again when the old
 * leader ran). A missing key passes a create's "does not exist" compare
 * again. With shared leases the group commit's fence refuses such copies
 * (`groupCommit.ts`); with a lease per key the delete ends the leases of its
 * keys first (a revoke deletes their keys), and a copy naming one is refused.
 */
import type { IKeyValue } from "etcd3"
import { type Duration, Effect } from "effect"
import type { KvError, PutOptions, PutResult } from "../../KvStore.js"
import type { Connection } from "./connection.js"
import type { Counts } from "./counts.js"
import * as Followed from "./followed.js"
import * as LeasePool from "./leasePool.js"
import * as Requests from "./requests.js"

export interface Writes {
  readonly put: (key: string, value: string, options?: PutOptions) => Effect.Effect<PutResult, KvError>
  readonly remove: (key: string) => Effect.Effect<boolean, KvError>
  readonly removePrefix: (prefix: string) => Effect.Effect<number, KvError>
  /** How many leases this store holds for keys (a figure for tests and metrics). */
  readonly held: () => number
  /** Spare leases granted ahead of need (a figure for tests). */
  readonly spares: () => number
}

/** What a lease mode brings: its put with a TTL, and what a key leaving its lease costs. */
export interface Mode {
  readonly putWithTtl: (
    key: string,
    value: string,
    ttl: Duration.DurationInput,
    limit: PutOptions["limit"]
  ) => Effect.Effect<PutResult, KvError>
  /** The full key left its lease (deleted, or put without a TTL). */
  readonly released: (fullKey: string) => Effect.Effect<void>
  readonly held: () => number
  readonly spares: () => number
  /** Each lease carries one key: a delete revokes the leases of its keys before it deletes. */
  readonly leasePerKey: boolean
}

type Range = { readonly key: Buffer; readonly range_end?: Buffer }

/**
 * Deletes the keys of `range` only if none was created after the revision this instance knew: etcd may
 * apply a late copy of a delete that was acknowledged through another attempt, and it must not take away
 * a registration acknowledged since (a register right after a DELETE would be lost). Keys only written
 * again since (heartbeats, which put in the shared lease mode) do not hold it up. Refused (a key created
 * meanwhile), it is sent again knowing etcd's revision. The keys it deleted.
 */
const deleteUnlessCreated = (conn: Connection, followed: Followed.Followed) => (what: string, range: Range) =>
  Requests.resending(
    Effect.gen(function* () {
      // Sent once: a retry after its answer was lost would find nothing left to delete (`Connection.onceClient`).
      const res = yield* conn.call(what, () =>
        conn.onceClient.kv.txn({
          compare: [
            {
              ...range,
              target: "Create",
              result: "Less",
              create_revision: String(Followed.known(conn, followed.applied) + 1n)
            }
          ],
          success: [{ request_delete_range: { ...range, prev_kv: true } }],
          failure: []
        })
      )
      const deleted = res.responses[0]?.response_delete_range
      return res.succeeded && deleted !== undefined ? (deleted.prev_kvs ?? []) : undefined
    }),
    (sends) => `${what} not committed: refused ${sends} times, keys created under it meanwhile`
  )

/**
 * Revokes the leases the keys of `range` are on (one key each): a revoke deletes its key, and a late copy
 * of a put naming that lease is refused from then on. A lease already gone (expired, revoked, or by a retried
 * revoke whose first attempt went through) is passed over. The keys on them, as read first.
 */
const endLeases = (conn: Connection) => (what: string, range: Range) =>
  Effect.gen(function* () {
    const { kvs } = yield* conn.call(`read ${what}`, () =>
      conn.client.kv.range({ ...range, keys_only: true })
    )
    const leased = kvs.filter((kv) => kv.lease !== "0" && !conn.isReserved(kv.key))
    yield* Effect.forEach(
      new Set(leased.map((kv) => kv.lease)),
      (id) => Effect.catchIf(LeasePool.revoke(conn)(id), LeasePool.leaseGone, () => Effect.void),
      { concurrency: 8, discard: true }
    )
    return leased
  })

export const make = (
  conn: Connection,
  counts: Counts,
  requests: ReturnType<typeof Requests.make>,
  followed: Followed.Followed,
  mode: Mode
): Writes => {
  const { read, checkLimit, write } = requests
  const endingLeases = endLeases(conn)
  const deleting = deleteUnlessCreated(conn, followed)

  const putAny = (key: string, value: string, options?: PutOptions): Effect.Effect<PutResult, KvError> =>
    options?.ttl !== undefined
      ? mode.putWithTtl(key, value, options.ttl, options.limit)
      : Effect.gen(function* () {
          const limit = options?.limit
          if (limit !== undefined && (yield* read(key)).kv === undefined) yield* checkLimit(limit)
          const written = yield* write(key, value)
          yield* mode.released(conn.fullKey(key).toString())
          return written.result
        })

  const put = (key: string, value: string, options?: PutOptions) =>
    Effect.tap(putAny(key, value, options), (result) => {
      if (result === "created") counts.created(key)
    })

  const forget = (keys: ReadonlyArray<IKeyValue>) =>
    Effect.forEach(
      keys,
      (kv) => {
        counts.removed(conn.userKey(kv.key))
        return mode.released(kv.key.toString())
      },
      { discard: true }
    )

  /** How many keys of `range` it deleted (counted once, whether by a revoke or by the delete). */
  const removeRange = (what: string, range: Range) =>
    Effect.gen(function* () {
      const ended = mode.leasePerKey ? yield* endingLeases(what, range) : []
      yield* forget(ended)
      const seen = new Set(ended.map((kv) => kv.key.toString()))
      const deleted = (yield* deleting(what, range)).filter((kv) => !seen.has(kv.key.toString()))
      yield* forget(deleted)
      return ended.length + deleted.length
    })

  const remove = (key: string) =>
    Effect.map(removeRange(`delete ${key}`, { key: conn.fullKey(key) }), (n) => n > 0)

  const removePrefix = (prefix: string) => removeRange(`delete ${prefix}*`, conn.prefixRange(prefix))

  return { put, remove, removePrefix, held: mode.held, spares: mode.spares }
}
