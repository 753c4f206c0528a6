/**
 * etcd keeps every revision of every key until it is compacted. With leases
 * shared by time every heartbeat is a put, so its history grows by one
 * revision per heartbeat (about 15 MB a minute at 1,667 heartbeats/s) until
 * etcd's space quota stops every write. etcd compacts itself only when started
 * with `--auto-compaction-*`, which is off by default.
 *
 * So, as Kubernetes' API server does, the instances compact it: every
 * interval each one moves a shared key, compared by its version; the one whose
 * compare holds (no other moved it since it last looked) compacts to the
 * revision it saw one interval earlier, the others only learn the version. A
 * group compacts about once per interval, and a watch that resumes within an
 * interval still finds its history (one that does not lists again:
 * `watch.ts`).
 */
import { type Duration, Effect, Schedule, type Scope } from "effect"
import type { KvError } from "../../KvStore.js"
import type { Connection } from "./connection.js"

/** What one instance knows between ticks. */
export interface Compaction {
  /** The version of the shared key this instance last saw (0: none yet). */
  readonly version: bigint
  /** etcd's revision at this instance's last tick (0: none yet): what the next successful tick compacts to. */
  readonly revision: bigint
  /** The revision this tick compacted etcd to, if it did. */
  readonly compacted?: bigint
}

export const START: Compaction = { version: 0n, revision: 0n }

/** The reserved key's name under the prefix (`Connection.reservedKey`). */
export const NAME = "compaction"

/** One tick: claim this interval's compaction, and make it when this instance's claim holds. */
export const tick = (conn: Connection, last: Compaction): Effect.Effect<Compaction, KvError> =>
  Effect.gen(function* () {
    const key = conn.reservedKey(NAME)
    const res = yield* conn.call("claim a compaction", () =>
      conn.client.kv.txn({
        compare: [{ key, target: "Version", result: "Equal", version: String(last.version) }],
        success: [{ request_put: { key, value: Buffer.from(String(last.revision)) } }],
        failure: [{ request_range: { key } }]
      })
    )
    const revision = BigInt(res.header.revision)
    if (!res.succeeded) {
      const version = BigInt(res.responses[0]?.response_range?.kvs[0]?.version ?? "0")
      return { version, revision }
    }
    const next = { version: last.version + 1n, revision }
    if (last.revision === 0n) return next // nothing seen one interval ago yet
    const compacted = yield* conn
      .call(`compact to revision ${last.revision}`, () =>
        conn.client.kv.compact({ revision: String(last.revision), physical: false })
      )
      .pipe(
        Effect.as(true),
        // etcd compacted further already (by itself, or another group over the same etcd): nothing to do.
        Effect.catchIf(
          (error) => /compacted/i.test(error.detail),
          () => Effect.succeed(false)
        )
      )
    return compacted ? { ...next, compacted: last.revision } : next
  })

/** Ticks every `interval` for the life of the scope; a failed tick is logged and the next one tries again. */
export const run = (
  conn: Connection,
  interval: Duration.Duration
): Effect.Effect<void, never, Scope.Scope> => {
  let state = START
  const once = Effect.suspend(() => tick(conn, state)).pipe(
    Effect.tap((next) => {
      state = next
      return next.compacted === undefined
        ? Effect.void
        : Effect.logDebug(`etcd: compacted its history to revision ${next.compacted}`)
    }),
    Effect.catchAll((error) => Effect.logWarning(`etcd: compaction skipped this time: ${error.message}`))
  )
  return once.pipe(Effect.repeat(Schedule.spaced(interval)), Effect.forkScoped, Effect.asVoid)
}
