/** The single-key requests of a put: read a key, check a prefix's bound, write a key (on a lease). */
import type { IKeyValue } from "etcd3"
import { Effect } from "effect"
import { KvError, type PutOptions, type PutResult } from "../../KvStore.js"
import { type Connection, STORE } from "./connection.js"

export const make = (conn: Connection) => {
  const { call, client } = conn
  const read = (key: string) =>
    call(`get ${key}`, () => client.kv.range({ key: conn.fullKey(key) })).pipe(
      Effect.map((res) => ({ kv: res.kvs[0] as IKeyValue | undefined, revision: res.header.revision }))
    )

  const checkLimit = (limit: PutOptions["limit"]) =>
    limit === undefined
      ? Effect.void
      : call(`count ${limit.prefix}`, () =>
          client.kv.range({ ...conn.prefixRange(limit.prefix), count_only: true })
        ).pipe(
          Effect.flatMap((res) =>
            Number(res.count) < limit.max
              ? Effect.void
              : new KvError({
                  store: STORE,
                  reason: "LimitExceeded",
                  detail: `${limit.prefix} already holds ${limit.max} keys`
                })
          )
        )

  const write = (key: string, value: string, lease?: string) =>
    call(`put ${key}`, () =>
      client.kv.put({
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

  return { read, checkLimit, write }
}
