/**
 * `watch(prefix)` over etcd. An etcd watch of the prefix says *when* it
 * changed; each change is then read with a range (a linearizable read,
 * answered through etcd's quorum), and that range is the snapshot emitted.
 * So a snapshot is never older than the moment it is emitted, even when the
 * watch stream lagged: after the process was paused, or cut off from etcd
 * while events queued up, or when the watch sits on a member that trails
 * the leader. A burst of queued events costs one range (events at or below
 * the last range's revision are already in it).
 *
 * The watch starts after the first range's revision R, and after every
 * break (etcd restarted, endpoint lost) it opens again from the last range's
 * revision + 1, so no change is missed. When etcd cancels it (compacted past
 * that revision) or answers from an older revision (a rebuilt cluster), the
 * prefix is ranged again at once. The snapshot index is the range's revision,
 * kept growing.
 */
import { Data, Duration, Effect, Option, Schedule, Stream } from "effect"
import type { IWatchResponse } from "etcd3"
import { KvError, type KvPair, type KvSnapshot } from "../../KvStore.js"
import { samePairs } from "../kvPairs.js"
import * as TlsFiles from "../tlsFiles.js"
import { type Connection, STORE } from "./connection.js"

/** Why one etcd watch stream ended: `Canceled` means ranging again. */
class WatchEnded extends Data.TaggedError("WatchEnded")<{
  readonly reason: "Disconnected" | "Canceled"
  readonly cause: unknown
}> {}

export interface Range {
  readonly pairs: ReadonlyArray<KvPair>
  readonly revision: bigint
  /** The index to give these pairs (the store's `list` gives the same): etcd's revision by default. */
  readonly index: number
}

/** Try each endpoint quickly, then back off up to 2s while none answers. Reset by each connection. */
const reconnect = Schedule.exponential(Duration.millis(50)).pipe(
  Schedule.union(Schedule.spaced(Duration.seconds(2)))
)

const CONNECTED = { _tag: "Connected" } as const

/** Where the watch stands: the last range's revision and snapshot, and whether etcd's cancel calls for a range. */
interface Cursor {
  /** The revision the last range read the prefix at: every change up to it is in `emitted`. */
  revision: bigint
  emitted: KvSnapshot
  relist: boolean
  /** The last revision told to read: a range is due while it is past `revision`. */
  told: bigint
}

/**
 * Events that change nothing in `emitted`: puts of the value a key already has there (a refresh that
 * wrote, as every heartbeat does on leases shared by time), with no range due, so `emitted` is the state
 * just before them. Those need no range: under leases shared by time a watched cluster would otherwise be
 * read at every heartbeat of each of its entries.
 */
const changesNothing = (conn: Connection, cursor: Cursor, events: IWatchResponse["events"]): boolean => {
  if (cursor.relist || cursor.told > cursor.revision) return false
  const values = valuesOf(cursor.emitted.pairs)
  return events.every(
    (event) => event.type === "Put" && values.get(conn.userKey(event.kv.key)) === event.kv.value.toString()
  )
}

const byKey = new WeakMap<ReadonlyArray<KvPair>, ReadonlyMap<string, string>>()
/** A snapshot's values by key, made once per snapshot. */
const valuesOf = (pairs: ReadonlyArray<KvPair>): ReadonlyMap<string, string> => {
  const known = byKey.get(pairs)
  if (known !== undefined) return known
  const made = new Map(pairs.map((p) => [p.key, p.value]))
  byKey.set(pairs, made)
  return made
}

/** One etcd watch from `cursor.revision + 1`, until its stream breaks or etcd cancels it. */
const session = (
  conn: Connection,
  prefix: string,
  cursor: Cursor
): Stream.Stream<bigint | typeof CONNECTED, WatchEnded> =>
  Stream.asyncScoped<bigint | typeof CONNECTED, WatchEnded>(
    (emit) => {
      const range = conn.prefixRange(prefix)
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
            .startRevision(String(cursor.revision + 1n))
            .watcher()
          w.on("connected", (res: IWatchResponse) => {
            // An etcd whose revision went back would only answer from our old revision on: range again.
            if (BigInt(res.header.revision) < cursor.revision) {
              end("Canceled", new Error(`etcd is at revision ${res.header.revision}, behind ours`))
            } else if (active) void emit.single(CONNECTED)
          })
          w.on("data", (res: IWatchResponse) => {
            if (!active || res.events.length === 0 || changesNothing(conn, cursor, res.events)) return
            cursor.told = BigInt(res.header.revision)
            void emit.single(cursor.told)
          })
          w.on("disconnected", (cause: unknown) => end("Disconnected", cause))
          w.on("error", (cause: unknown) => end("Canceled", cause))
          return w
        }),
        (w) =>
          Effect.suspend(() => {
            active = false
            return Effect.promise(() => w.cancel()).pipe(Effect.timeout(Duration.seconds(1)), Effect.ignore)
          })
      )
    },
    { bufferSize: 64, strategy: "sliding" }
  )

/** Reads the prefix when a change past our range (or a cancel) calls for it; the snapshot if it differs. */
const readChange =
  (prefix: string, rangeOf: (prefix: string) => Effect.Effect<Range, KvError>, cursor: Cursor) =>
  (changedAt: bigint): Effect.Effect<Option.Option<KvSnapshot>, KvError> =>
    Effect.suspend(() => {
      if (!cursor.relist && changedAt <= cursor.revision) return Effect.succeed(Option.none())
      return Effect.map(rangeOf(prefix), (listed) => {
        cursor.relist = false
        cursor.revision = listed.revision
        if (samePairs(listed.pairs, cursor.emitted.pairs)) return Option.none()
        // The revision, kept growing even if etcd's went back (a rebuilt cluster).
        cursor.emitted = {
          pairs: listed.pairs,
          index: Math.max(listed.index, cursor.emitted.index + 1)
        }
        return Option.some(cursor.emitted)
      })
    })

/** Logs why a watch stream ended; a cancel marks the cursor for a range before the next watch. */
const noteEnd =
  (prefix: string, cursor: Cursor) =>
  (error: WatchEnded | KvError): Effect.Effect<void> =>
    Effect.suspend(() => {
      if (error._tag !== "WatchEnded") return Effect.logDebug(`etcd watch of ${prefix}: ${error.message}`)
      if (error.reason === "Canceled") cursor.relist = true
      return Effect.logDebug(
        `etcd watch of ${prefix} ${error.reason === "Canceled" ? "canceled" : "lost its stream"} ` +
          `(${TlsFiles.describe(error.cause)}); ${cursor.relist ? "ranging again" : `resuming at revision ${cursor.revision + 1n}`}`
      )
    })

/** The watch after the first snapshot: sessions resumed for ever, each change read as a range. */
const resumed = (
  conn: Connection,
  prefix: string,
  rangeOf: (prefix: string) => Effect.Effect<Range, KvError>,
  cursor: Cursor
): Stream.Stream<KvSnapshot, KvError> => {
  const read = readChange(prefix, rangeOf, cursor)
  return Stream.suspend(() =>
    cursor.relist
      ? Stream.concat(Stream.make(cursor.revision + 1n), session(conn, prefix, cursor))
      : session(conn, prefix, cursor)
  ).pipe(
    Stream.mapEffect((item) => (typeof item === "bigint" ? read(item) : Effect.succeed(Option.none()))),
    Stream.tapError(noteEnd(prefix, cursor)),
    Stream.retry(reconnect),
    Stream.filterMap((o) => o),
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
}

export const watch = (
  conn: Connection,
  prefix: string,
  rangeOf: (prefix: string) => Effect.Effect<Range, KvError>
): Stream.Stream<KvSnapshot, KvError> =>
  Stream.unwrapScoped(
    Effect.map(rangeOf(prefix), (initial) => {
      const cursor: Cursor = {
        revision: initial.revision,
        emitted: { pairs: initial.pairs, index: initial.index },
        relist: false,
        told: initial.revision
      }
      return Stream.concat(Stream.make(cursor.emitted), resumed(conn, prefix, rangeOf, cursor))
    })
  )
