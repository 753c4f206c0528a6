/** The single-key requests of a put: read a key, count or check a prefix's bound, write a key (on a lease). */
import type { IKeyValue } from "etcd3"
import { Effect } from "effect"
import { KvError, type PutOptions, type PutResult } from "../../KvStore.js"
import { type Connection, STORE } from "./connection.js"

/** A new key refused: its prefix holds `limit.max` keys already. */
export const limitExceeded = (limit: NonNullable<PutOptions["limit"]>) =>
  new KvError({
    store: STORE,
    reason: "LimitExceeded",
    detail: `${limit.prefix} already holds ${limit.max} keys`
  })

/** Sends of one write that etcd keeps refusing (what it compares was written meanwhile), before it fails. */
const MAX_SENDS = 4

/**
 * Sends `send` again while etcd refuses it (it gives undefined); each send compares with what this instance
 * knows then, so a refusal teaches the next one. After `MAX_SENDS` refusals it fails, `refused` saying why.
 */
export const resending = <A>(
  send: Effect.Effect<A | undefined, KvError>,
  refused: (sends: number) => string
): Effect.Effect<A, KvError> =>
  Effect.gen(function* () {
    for (let sends = 1; ; sends++) {
      const result = yield* send
      if (result !== undefined) return result
      if (sends >= MAX_SENDS)
        return yield* new KvError({ store: STORE, reason: "Unavailable", detail: refused(sends) })
    }
  })

export const make = (conn: Connection) => {
  const { call, client, onceClient } = conn
  const read = (key: string) =>
    call(`get ${key}`, () => client.kv.range({ key: conn.fullKey(key) })).pipe(
      Effect.map((res) => ({ kv: res.kvs[0] as IKeyValue | undefined, revision: res.header.revision }))
    )

  /**
   * Keys under `prefix`, counted by etcd (nothing listed). Serializable: the member answers alone, so a
   * count may miss the last moments' writes, which bounds on a shared store tolerate.
   */
  const count = (prefix: string) =>
    call(`count ${prefix}`, () =>
      client.kv.range({ ...conn.prefixRange(prefix), count_only: true, serializable: true })
    ).pipe(Effect.map((res) => Number(res.count)))

  const checkLimit = (limit: PutOptions["limit"]) =>
    limit === undefined
      ? Effect.void
      : count(limit.prefix).pipe(Effect.flatMap((n) => (n < limit.max ? Effect.void : limitExceeded(limit))))

  const write = (key: string, value: string, lease?: string) =>
    // Sent once: a retry after its answer was lost would report "updated" (`Connection.onceClient`).
    call(`put ${key}`, () =>
      onceClient.kv.put({
        key: conn.fullKey(key),
        value: Buffer.from(value),
        prev_kv: true,
        ...(lease ? { lease } : {})
      })
    ).pipe(
      Effect.map((res) => ({
        revision: res.header.revision,
        result: (res.prev_kv ? "updated" : "created") as PutResult
      }))
    )

  /**
   * One round trip for a key that is probably new: puts it on `lease` when it does not exist, else
   * reads it (`kv`). Either way etcd's revision then.
   */
  const createOrRead = (key: string, value: string, lease: string) =>
    call(`put ${key}`, () =>
      client.kv.txn({
        compare: [{ key: conn.fullKey(key), target: "Version", result: "Equal", version: 0 }],
        success: [{ request_put: { key: conn.fullKey(key), value: Buffer.from(value), lease } }],
        failure: [{ request_range: { key: conn.fullKey(key) } }]
      })
    ).pipe(
      Effect.map((res) => ({
        created: res.succeeded,
        kv: res.succeeded ? undefined : (res.responses[0]?.response_range.kvs[0] as IKeyValue | undefined),
        revision: res.header.revision
      }))
    )

  return { read, count, checkLimit, write, createOrRead }
}
