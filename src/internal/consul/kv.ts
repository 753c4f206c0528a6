/**
 * Consul's KV endpoints, one function each. A 404 on a read is "nothing
 * there" (a missing key, or a prefix with no keys, which a real agent answers
 * with 404 rather than `[]`), and still carries `X-Consul-Index`.
 */
import { Duration, Effect } from "effect"
import * as GoDuration from "../../GoDuration.js"
import type { KvError, KvSnapshot } from "../../KvStore.js"
import { badResponse, decision, decodeEntries, decodeKeys, type Entry, expectStatus } from "./answers.js"
import type { Client, Query } from "./client.js"
import { byKey, clusterOf } from "../kvPairs.js"
import { kvPath } from "./endpoint.js"

export interface Kv {
  readonly get: (key: string) => Effect.Effect<Entry | undefined, KvError>
  readonly count: (prefix: string) => Effect.Effect<number, KvError>
  /** Every key, and the distinct first path segments among keys that have one (clusters): one key listing. */
  readonly stats: Effect.Effect<{ readonly entries: number; readonly clusters: number }, KvError>
  /** Every pair under the prefix; with `block`, a blocking query that returns once Consul's index passes it. */
  readonly list: (prefix: string, block?: { readonly index: number }) => Effect.Effect<KvSnapshot, KvError>
  readonly put: (key: string, value: string, query?: Query) => Effect.Effect<boolean, KvError>
  readonly remove: (key: string) => Effect.Effect<boolean, KvError>
  readonly removeTree: (prefix: string) => Effect.Effect<boolean, KvError>
}

export const make = (client: Client, watchWait: Duration.Duration, requestTimeout: Duration.Duration): Kv => {
  const { origin } = client
  // Consul adds up to wait/16 of jitter to a blocking query.
  const blockingTimeout = Duration.sum(
    Duration.sum(watchWait, Duration.millis(Duration.toMillis(watchWait) / 16)),
    requestTimeout
  )
  const wait = GoDuration.format(watchWait)

  const get = (key: string) =>
    Effect.flatMap(client.request("GET", kvPath(key)), (reply) =>
      reply.status === 404
        ? Effect.succeed(undefined)
        : Effect.map(decodeEntries(origin, reply), (entries) => entries.find((e) => e.key === key))
    )

  /** The keys under a prefix (Consul answers 404 for none). */
  const keysUnder = (prefix: string) =>
    Effect.flatMap(client.request("GET", kvPath(prefix), { query: { keys: true } }), (reply) =>
      reply.status === 404 ? Effect.succeed<ReadonlyArray<string>>([]) : decodeKeys(origin, reply)
    )

  const count = (prefix: string) => Effect.map(keysUnder(prefix), (keys) => keys.length)

  const stats = Effect.map(keysUnder(""), (keys) => {
    const clusters = new Set<string>()
    for (const key of keys) {
      const cluster = clusterOf(key)
      if (cluster !== undefined) clusters.add(cluster)
    }
    return { entries: keys.length, clusters: clusters.size }
  })

  const list = (prefix: string, block?: { readonly index: number }) => {
    const query: Query = block ? { recurse: true, index: String(block.index), wait } : { recurse: true }
    const options = block ? { query, timeout: blockingTimeout } : { query }
    return Effect.flatMap(client.request("GET", kvPath(prefix), options), (reply) => {
      if (reply.index === undefined && (reply.status === 200 || reply.status === 404)) {
        return Effect.fail(badResponse(origin, reply, "no X-Consul-Index header"))
      }
      // Consul: a returned index of 0 is a bug; treat it as 1 so blocking still blocks.
      const index = Math.max(1, reply.index ?? 1)
      if (reply.status === 404) return Effect.succeed({ pairs: [], index })
      return Effect.map(decodeEntries(origin, reply), (entries) => ({
        pairs: entries
          .filter((e) => e.key.startsWith(prefix))
          .map(({ key, value }) => ({ key, value }))
          .sort(byKey),
        index
      }))
    })
  }

  const put = (key: string, value: string, query?: Query) =>
    Effect.flatMap(
      client.request("PUT", kvPath(key), { body: value, ...(query ? { query } : {}) }),
      (reply) => decision(origin, reply)
    )

  const remove = (key: string) =>
    Effect.flatMap(client.request("DELETE", kvPath(key)), (reply) => decision(origin, reply))

  const removeTree = (prefix: string) =>
    Effect.flatMap(client.request("DELETE", kvPath(prefix), { query: { recurse: true } }), (reply) =>
      Effect.flatMap(expectStatus(origin, reply, [200]), () => decision(origin, reply))
    )

  return { get, count, stats, list, put, remove, removeTree }
}
