/**
 * `watch(prefix)` over etcd: a range gives the first snapshot and its
 * revision R; an etcd watch from R+1 then applies every event to it. When the
 * watch stream breaks (etcd restarted, endpoint lost) it opens again from the
 * last applied revision + 1, so nothing is missed or repeated. When etcd
 * cancels it (compacted past that revision) or answers from an older
 * revision (a rebuilt cluster), the prefix is listed again.
 */
import { Data, Duration, Effect, Option, Schedule, Stream } from "effect"
import type { IWatchResponse } from "etcd3"
import { KvError, type KvPair, type KvSnapshot } from "../../KvStore.js"
import { byKey, samePairs } from "../kvPairs.js"
import * as TlsFiles from "../tlsFiles.js"
import { type Connection, STORE } from "./connection.js"

/** Why one etcd watch stream ended: `Canceled` means listing again. */
class WatchEnded extends Data.TaggedError("WatchEnded")<{
  readonly reason: "Disconnected" | "Canceled"
  readonly cause: unknown
}> {}

export interface Range {
  readonly pairs: ReadonlyArray<KvPair>
  readonly revision: bigint
}

/** Try each endpoint quickly, then back off up to 2s while none answers. Reset by each connection. */
const reconnect = Schedule.exponential(Duration.millis(50)).pipe(
  Schedule.union(Schedule.spaced(Duration.seconds(2)))
)

const CONNECTED = { _tag: "Connected" } as const

export const watch = (
  conn: Connection,
  prefix: string,
  rangeOf: (prefix: string) => Effect.Effect<Range, KvError>
): Stream.Stream<KvSnapshot, KvError> =>
  Stream.unwrapScoped(
    Effect.gen(function* () {
      const range = conn.prefixRange(prefix)
      const initial = yield* rangeOf(prefix)
      const state = new Map(initial.pairs.map((p) => [p.key, p.value]))
      let revision = initial.revision
      let emitted: KvSnapshot = { pairs: initial.pairs, index: Number(initial.revision) }
      let relist = false
      const snapshot = (): KvSnapshot => {
        emitted = {
          pairs: [...state].map(([key, value]) => ({ key, value })).sort(byKey),
          // The revision, kept growing even if etcd's went back (a rebuilt cluster).
          index: Math.max(Number(revision), emitted.index + 1)
        }
        return emitted
      }

      /** One etcd watch from `revision + 1`, until its stream breaks or etcd cancels it. */
      const session = Stream.asyncScoped<KvSnapshot | typeof CONNECTED, WatchEnded>(
        (emit) => {
          let active = true
          const end = (reason: WatchEnded["reason"], cause: unknown) => {
            if (!active) return
            active = false
            void emit.fail(new WatchEnded({ reason, cause }))
          }
          return Effect.acquireRelease(
            Effect.sync(() => {
              const w = conn.client
                .watch()
                .inRange({ start: range.key, end: range.range_end })
                .startRevision(String(revision + 1n))
                .watcher()
              w.on("connected", (res: IWatchResponse) => {
                // An etcd whose revision went back would only answer from our old revision on: list again.
                if (BigInt(res.header.revision) < revision) {
                  end("Canceled", new Error(`etcd is at revision ${res.header.revision}, behind ours`))
                } else if (active) void emit.single(CONNECTED)
              })
              w.on("data", (res: IWatchResponse) => {
                if (!active) return
                for (const event of res.events) {
                  const key = conn.userKey(event.kv.key)
                  if (String(event.type).toLowerCase() === "delete") state.delete(key)
                  else state.set(key, event.kv.value.toString())
                }
                const at = BigInt(res.header.revision)
                if (at > revision) revision = at
                if (res.events.length > 0) void emit.single(snapshot())
              })
              w.on("disconnected", (cause: unknown) => end("Disconnected", cause))
              w.on("error", (cause: unknown) => end("Canceled", cause))
              return w
            }),
            (w) =>
              Effect.suspend(() => {
                active = false
                return Effect.promise(() => w.cancel()).pipe(
                  Effect.timeout(Duration.seconds(1)),
                  Effect.ignore
                )
              })
          )
        },
        { bufferSize: 64, strategy: "sliding" }
      )

      /** After a cancel: start again from a fresh range, emitting it when it differs. */
      const fresh = Effect.gen(function* () {
        const listed = yield* rangeOf(prefix)
        relist = false
        state.clear()
        for (const p of listed.pairs) state.set(p.key, p.value)
        revision = listed.revision
        return samePairs(listed.pairs, emitted.pairs) ? Option.none() : Option.some(snapshot())
      })

      const resumed = Stream.suspend(() =>
        relist
          ? Stream.concat(
              Stream.filterMap(Stream.fromEffect(fresh), (o) => o),
              session
            )
          : session
      ).pipe(
        Stream.tapError((error) =>
          Effect.suspend(() => {
            if (error._tag !== "WatchEnded")
              return Effect.logDebug(`etcd watch of ${prefix}: ${error.message}`)
            if (error.reason === "Canceled") relist = true
            return Effect.logDebug(
              `etcd watch of ${prefix} ${error.reason === "Canceled" ? "canceled" : "lost its stream"} ` +
                `(${TlsFiles.describe(error.cause)}); ${relist ? "listing again" : `resuming at revision ${revision + 1n}`}`
            )
          })
        ),
        Stream.retry(reconnect),
        Stream.filter((item): item is KvSnapshot => !("_tag" in item)),
        // The schedule never ends, so this only names the type.
        Stream.mapError((error) =>
          error._tag === "KvError"
            ? error
            : new KvError({
                store: STORE,
                reason: "Unavailable",
                detail: `watch of ${prefix} ended`,
                cause: error
              })
        )
      )
      return Stream.concat(Stream.make(emitted), resumed)
    })
  )
