/**
 * The SQLite store's watchers, in-process (every writer is in this process,
 * thanks to the exclusive lock). Watchers of one prefix share a change
 * signal; a commit wakes the signals of the directories it touched, and
 * checks the rare prefixes that are not directories key by key.
 */
import { Effect, Stream } from "effect"
import type { KvError, KvSnapshot } from "../../KvStore.js"
import * as ChangeSignal from "../changeSignal.js"
import { isDirectory } from "./keys.js"

interface Held {
  readonly signal: ChangeSignal.ChangeSignal
  count: number
}

export const make = () => {
  const directories = new Map<string, Held>()
  const prefixes = new Map<string, Held>()

  const committed = (touched: ReadonlySet<string>, keys: ReadonlyArray<string>) => {
    for (const dir of touched) directories.get(dir)?.signal.unsafeNotify()
    for (const [prefix, held] of prefixes) {
      if (keys.some((k) => k.startsWith(prefix))) held.signal.unsafeNotify()
    }
  }

  /** Wakes every watcher (the store is closing: their next read fails). */
  const wakeAll = () => {
    for (const table of [directories, prefixes]) for (const held of table.values()) held.signal.unsafeNotify()
  }

  const hold = (prefix: string) =>
    Effect.acquireRelease(
      Effect.sync(() => {
        const table = isDirectory(prefix) ? directories : prefixes
        let held = table.get(prefix)
        if (held === undefined) {
          held = { signal: ChangeSignal.make(), count: 0 }
          table.set(prefix, held)
        }
        held.count++
        return { table, held }
      }),
      ({ held, table }) =>
        Effect.sync(() => {
          if (--held.count === 0 && table.get(prefix) === held) table.delete(prefix)
        })
    )

  /** The current snapshot, then one per change: `list` is read after the signal's version, so none is missed. */
  const watch = (
    prefix: string,
    list: (prefix: string) => Effect.Effect<KvSnapshot, KvError>
  ): Stream.Stream<KvSnapshot, KvError> =>
    Stream.unwrapScoped(
      Effect.map(hold(prefix), ({ held: { signal } }) => {
        let lastIndex = -1
        const step = Effect.suspend(() => {
          const seen = signal.version()
          return Effect.flatMap(list(prefix), (current) => {
            if (current.index === lastIndex) return Effect.as(signal.awaitChange(seen), [])
            lastIndex = current.index
            return Effect.succeed([current])
          })
        })
        return Stream.repeatEffect(step).pipe(Stream.flattenIterables)
      })
    )

  return { committed, wakeAll, watch }
}
