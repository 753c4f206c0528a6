/**
 * The writes both lease modes share (`leases.ts`, `sharedLeases.ts`): a put
 * without a TTL, deletes, and the kept counts they move. Each mode brings its
 * put with a TTL and what a key's leaving its lease costs.
 */
import type { IKeyValue } from "etcd3"
import { type Duration, Effect } from "effect"
import type { KvError, PutOptions, PutResult } from "../../KvStore.js"
import type { Connection } from "./connection.js"
import type { Counts } from "./counts.js"
import * as Followed from "./followed.js"
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
}

export const make = (
  conn: Connection,
  counts: Counts,
  requests: ReturnType<typeof Requests.make>,
  followed: Followed.Followed,
  mode: Mode
): Writes => {
  const { call, client } = conn
  const { read, checkLimit, write } = requests

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

  /**
   * Deletes the keys of `range` only if none was created after the revision this instance knew: etcd may
   * apply a late copy of a delete that was acknowledged through another attempt, and it must not take away
   * a registration acknowledged since (a register right after a DELETE would be lost). Keys only written
   * again since (heartbeats, which put in the shared lease mode) do not hold it up. Refused (a key created
   * meanwhile), it is sent again knowing etcd's revision. How many keys it deleted.
   */
  const deleteUnlessCreated = (what: string, range: { readonly key: Buffer; readonly range_end?: Buffer }) =>
    Requests.resending(
      Effect.gen(function* () {
        const res = yield* call(what, () =>
          client.kv.txn({
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
        if (!res.succeeded || deleted === undefined) return undefined
        yield* forget(deleted.prev_kvs ?? [])
        return Number(deleted.deleted)
      }),
      (sends) => `${what} not committed: refused ${sends} times, keys created under it meanwhile`
    )

  const remove = (key: string) =>
    Effect.map(deleteUnlessCreated(`delete ${key}`, { key: conn.fullKey(key) }), (n) => n > 0)

  const removePrefix = (prefix: string) => deleteUnlessCreated(`delete ${prefix}*`, conn.prefixRange(prefix))

  return { put, remove, removePrefix, held: mode.held, spares: mode.spares }
}
