/**
 * An in-memory `KvStore`. TTLs run on Effect's `Clock`, read in the caller's
 * fiber, so `TestClock` drives expiry in tests.
 *
 * - **Lists** read a per-directory snapshot, sorted once per change and
 *   reused until the next one (the server reuses its JSON answer as well);
 *   a count for `limit` is a set's size.
 * - **Expiry** is lazy and proportional to what expires: a min-heap holds
 *   each key with a TTL once, and is drained before every operation. A
 *   refresh that moves a deadline later only rewrites it; the heap entry
 *   moves when it comes up, once per TTL at most. So the heap never holds
 *   more than the live keys, whatever the refresh rate.
 * - **Watchers** wait on their directory's change signal, or until the
 *   earliest deadline under it, whichever comes first.
 */
import { Clock, Config, type ConfigError, Duration, Effect, Layer, Stream } from "effect"
import { KvError, type KvSnapshot, KvStore, type KvStoreShape, type PutOptions } from "../KvStore.js"
import { DeadlineHeap, type HeapItem } from "../internal/memory/deadlineHeap.js"
import * as Directories from "../internal/memory/directories.js"

interface Slot extends HeapItem {
  readonly key: string
  value: string
  /** Epoch millis, or undefined for no TTL. The heap entry (`at`) may lag behind it, never ahead. */
  expiresAt: number | undefined
}

export interface MemoryConfig {
  /** A process-wide store shared by every layer given the same name (`memory://name`). Default: a fresh one. */
  readonly name?: string | undefined
}

export interface MemoryStats {
  /** Live keys. */
  readonly entries: number
  /** Non-empty directories other than the root (for the server: clusters). */
  readonly clusters: number
  /** Keys removed because their TTL ran out, since the store was made. */
  readonly expirations: number
  /** Entries in the deadline heap: at most the keys with a TTL. */
  readonly deadlines: number
  /** Directories held: those with keys or watchers, the root included. */
  readonly directories: number
}

export interface MemoryKvStore extends KvStoreShape {
  /** Expires what is due first, so the figures are exact at the caller's clock. */
  readonly stats: Effect.Effect<MemoryStats>
}

/** The store itself, without a Layer, so several layers can share one (see `memory://name`). */
export const unsafeMake = (): MemoryKvStore => {
  const slots = new Map<string, Slot>()
  const heap = new DeadlineHeap<Slot>()
  const dirs = Directories.make({
    value: (key) => slots.get(key)!.value,
    expiresAt: (key) => slots.get(key)!.expiresAt
  })
  let expirations = 0

  const expire = (now: number) => {
    for (let top = heap.peek(); top !== undefined && top.at <= now; top = heap.peek()) {
      if (top.expiresAt !== undefined && top.expiresAt > now) {
        // Refreshed since it was queued: queue it at its real deadline.
        heap.set(top, top.expiresAt)
        continue
      }
      heap.remove(top)
      slots.delete(top.key)
      expirations++
      dirs.touch(top.key, "Removed")
    }
  }

  const withNow = <A>(f: (now: number) => A) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.sync(() => {
        expire(now)
        return f(now)
      })
    )

  const put = (key: string, value: string, options?: PutOptions) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.suspend(() => {
        expire(now)
        const ttl = options?.ttl === undefined ? undefined : Duration.toMillis(Duration.decode(options.ttl))
        const expiresAt = ttl === undefined ? undefined : now + ttl
        const slot = slots.get(key)
        if (slot === undefined) {
          const limit = options?.limit
          if (limit !== undefined && dirs.count(limit.prefix) >= limit.max) {
            return Effect.fail(
              new KvError({
                store: "memory",
                reason: "LimitExceeded",
                detail: `${limit.prefix} already holds ${limit.max} keys`
              })
            )
          }
          const created: Slot = { key, value, expiresAt, at: 0, heapIndex: -1 }
          slots.set(key, created)
          if (expiresAt !== undefined) heap.set(created, expiresAt)
          dirs.touch(key, "Added")
          return Effect.succeed("created" as const)
        }
        const previous = slot.expiresAt
        slot.expiresAt = expiresAt
        if (expiresAt === undefined) heap.remove(slot)
        else if (slot.heapIndex < 0 || expiresAt < slot.at) heap.set(slot, expiresAt)
        if (slot.value !== value) {
          slot.value = value
          dirs.touch(key, "Changed")
        } else if (expiresAt !== undefined && (previous === undefined || expiresAt < previous)) {
          // Same contents, so no change for watchers; but one sleeping past the new deadline must re-plan.
          dirs.earlier(key, expiresAt)
        }
        return Effect.succeed("updated" as const)
      })
    )

  const removeKey = (key: string): boolean => {
    const slot = slots.get(key)
    if (slot === undefined) return false
    heap.remove(slot)
    slots.delete(key)
    dirs.touch(key, "Removed")
    return true
  }

  const remove = (key: string) => withNow(() => removeKey(key))

  const deletePrefix = (prefix: string) =>
    withNow(() => {
      let n = 0
      for (const key of dirs.keysUnder(prefix)) if (removeKey(key)) n++
      return n
    })

  const list = (prefix: string) => withNow(() => dirs.snapshot(prefix))

  const expiries = (prefix: string) =>
    withNow((): ReadonlyMap<string, number> => {
      const out = new Map<string, number>()
      for (const key of dirs.keysUnder(prefix)) {
        const expiresAt = slots.get(key)?.expiresAt
        if (expiresAt !== undefined) out.set(key, expiresAt)
      }
      return out
    })

  const watch = (prefix: string): Stream.Stream<KvSnapshot, KvError> => {
    const path = Directories.baseOf(prefix)
    return Stream.unwrapScoped(
      Effect.map(
        Effect.acquireRelease(
          Effect.sync(() => dirs.watch(path)),
          (held) => Effect.sync(held.release)
        ),
        ({ dir }) => {
          const signal = dir.signal!
          let lastIndex = -1
          const step: Effect.Effect<ReadonlyArray<KvSnapshot>> = Effect.flatMap(
            Clock.currentTimeMillis,
            (now) => {
              // Read the signal's version before the state, so a change in between is not missed.
              const seen = signal.version()
              expire(now)
              const current = dirs.snapshot(prefix)
              if (current.index !== lastIndex) {
                lastIndex = current.index
                return Effect.succeed([current])
              }
              const deadline = dirs.nextDeadline(path, now)
              const changed = signal.awaitChange(seen)
              return Effect.as(
                deadline === Number.POSITIVE_INFINITY
                  ? changed
                  : Effect.raceFirst(changed, Effect.sleep(Duration.millis(deadline - now))),
                []
              )
            }
          )
          return Stream.repeatEffect(step).pipe(Stream.flattenIterables)
        }
      )
    )
  }

  return {
    put,
    delete: remove,
    deletePrefix,
    list,
    watch,
    expiries,
    stats: withNow((): MemoryStats => ({
      entries: slots.size,
      clusters: dirs.nonEmpty(),
      expirations,
      deadlines: heap.size,
      directories: dirs.size()
    }))
  }
}

export const make: Effect.Effect<MemoryKvStore> = Effect.sync(unsafeMake)

export const layer: Layer.Layer<KvStore> = Layer.effect(KvStore, make)

/** `layer` from `Config`, in the style of `SqliteClient.layerConfig`. */
export const layerConfig = (
  config: Config.Config.Wrap<MemoryConfig>
): Layer.Layer<KvStore, ConfigError.ConfigError> =>
  Layer.effect(
    KvStore,
    Effect.map(Config.unwrap(config), ({ name }) => (name === undefined ? unsafeMake() : getNamed(name)))
  )

const named = new Map<string, MemoryKvStore>()

/** The process-wide store behind `memory://name`, created on first use. */
export const getNamed = (name: string): MemoryKvStore => {
  let store = named.get(name)
  if (store === undefined) {
    store = unsafeMake()
    named.set(name, store)
  }
  return store
}
