/**
 * list and watch over ZooKeeper: the children of the prefix's directory that
 * hold data, one level deep, as Swarm's libkv did.
 *
 * A watch arms a children watch on the directory and a data watch on each
 * child (an exists watch while the directory is missing); each event, and
 * each (re)connection, reads the directory again, re-arming them, and emits a
 * snapshot when its contents changed. The index is the largest of the
 * directory's pzxid and its children's mzxid, raised so it always grows. A
 * failed read is retried on a schedule (the first one fails the watch).
 */
import { Duration, Effect, Option, Schedule, Stream } from "effect"
import type { Watcher } from "node-zookeeper-client"
import type { KvError, KvPair, KvSnapshot } from "../../KvStore.js"
import * as ChangeSignal from "../changeSignal.js"
import { samePairs } from "../kvPairs.js"
import { child, NODE_DATA_CHANGED, NODE_DELETED, pathToKey, prefixToDirectory, zxid } from "./paths.js"
import { orNone, type Session, type ZkFailure } from "./session.js"

/** A child as a watch last read it: its value (undefined for a directory) and mzxid. */
interface Child {
  readonly value: string | undefined
  readonly mzxid: number
}

const retry = Schedule.exponential(Duration.millis(100)).pipe(
  Schedule.union(Schedule.spaced(Duration.seconds(1)))
)

/** Reads a directory's children for a prefix (see `read`). */
const reader = (session: Session) => {
  const { getChildren, getData, exists } = session

  /**
   * The children of the directory that hold data, and an index; arms watches when given a watcher.
   * With a `cache` (a watch's), only children not in it are read: a child's entry stays valid
   * while its data watch has not fired, and the watcher drops it when it does.
   */
  const read = (
    dir: string,
    name: string,
    watcher?: Watcher,
    cache?: Map<string, Child>
  ): Effect.Effect<{ readonly pairs: Array<KvPair>; readonly index: number }, ZkFailure> =>
    Effect.gen(function* () {
      const listed = yield* orNone(getChildren(dir, watcher))
      if (Option.isNone(listed)) {
        cache?.clear()
        if (watcher !== undefined) {
          // The directory is missing: watch for it to appear (or read again if it just did).
          const appeared = yield* exists(dir, watcher)
          if (appeared !== null) return yield* read(dir, name, watcher, cache)
        }
        return { pairs: [] as Array<KvPair>, index: 0 }
      }
      const names = listed.value.children.filter((n) => n.startsWith(name)).sort()
      const known = cache ?? new Map<string, Child>()
      const present = new Set(names)
      for (const n of known.keys()) if (!present.has(n)) known.delete(n)
      // One request per unknown child, pipelined on the connection.
      yield* Effect.forEach(
        names.filter((n) => !known.has(n)),
        (n) =>
          Effect.map(orNone(getData(child(dir, n), watcher)), (node) => {
            // A child deleted meanwhile is skipped: the children watch fires for it.
            if (Option.isSome(node)) {
              known.set(n, { value: node.value.data?.toString(), mzxid: zxid(node.value.stat.mzxid) })
            }
          }),
        { concurrency: 32, discard: true }
      )
      let index = zxid(listed.value.stat.pzxid)
      const pairs: Array<KvPair> = []
      for (const n of names) {
        const c = known.get(n)
        if (c === undefined) continue
        index = Math.max(index, c.mzxid)
        if (c.value !== undefined) pairs.push({ key: pathToKey(child(dir, n)), value: c.value })
      }
      return { pairs, index }
    })

  return read
}

const locator = (session: Session) => (prefix: string) => {
  const location = prefixToDirectory(prefix)
  return location === undefined
    ? Effect.fail(session.invalid(`${prefix} is not a valid ZooKeeper prefix`))
    : Effect.succeed(location)
}

/** A prefix's snapshots: the first read, then one after each watch event or reconnection that changed them. */
const watching =
  (session: Session, read: ReturnType<typeof reader>) =>
  (prefix: string): Stream.Stream<KvSnapshot, KvError> =>
    Stream.unwrap(
      Effect.gen(function* () {
        const { dir, name } = yield* locator(session)(prefix)
        const events = ChangeSignal.make()
        /** The children read so far whose data watch is armed. */
        const cache = new Map<string, Child>()
        // One stable watcher function: the library keeps one registration per path for it.
        const watcher: Watcher = (event) => {
          if (event.path !== dir && (event.type === NODE_DELETED || event.type === NODE_DATA_CHANGED)) {
            cache.delete(event.path.slice(event.path.lastIndexOf("/") + 1))
          }
          events.unsafeNotify()
        }
        let seen = { events: events.version(), connections: session.signal.version() }
        /** Reads (arming watches); after a (re)connection everything again: a new session has none of ours. */
        const readAll = Effect.suspend(() => {
          if (session.signal.version() !== seen.connections) cache.clear()
          seen = { events: events.version(), connections: session.signal.version() }
          return session.run(`watch ${prefix}`, read(dir, name, watcher, cache))
        }).pipe(Effect.tapError(() => Effect.sync(() => cache.clear())))
        const first = yield* readAll
        let last: KvSnapshot = first
        const next: Effect.Effect<Option.Option<KvSnapshot>> = Effect.gen(function* () {
          yield* Effect.raceFirst(
            events.awaitChange(seen.events),
            session.signal.awaitChange(seen.connections)
          )
          const result = yield* readAll.pipe(
            Effect.tapError((error) => Effect.logDebug(`${error.message}; retrying`)),
            Effect.retry(retry),
            Effect.orDie
          )
          if (samePairs(result.pairs, last.pairs)) return Option.none()
          last = { pairs: result.pairs, index: Math.max(result.index, last.index + 1) }
          return Option.some(last)
        })
        return Stream.concat(Stream.make(first), Stream.repeatEffect(next).pipe(Stream.filterMap((x) => x)))
      })
    )

export const make = (session: Session) => {
  const read = reader(session)
  const locate = locator(session)
  const list = (prefix: string): Effect.Effect<KvSnapshot, KvError> =>
    Effect.flatMap(locate(prefix), ({ dir, name }) => session.run(`list ${prefix}`, read(dir, name)))

  return { list, watch: watching(session, read) }
}
