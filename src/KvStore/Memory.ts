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

/** The store's state: the keys, their deadlines, their directories and the expiry count. */
interface State {
  readonly slots: Map<string, Slot>
  readonly heap: DeadlineHeap<Slot>
  readonly dirs: ReturnType<typeof Directories.make>
  expirations: number
}

/** Removes every key whose deadline has passed; a refreshed one is queued again at its real deadline. */
const expire = (state: State, now: number) => {
  const { heap, slots, dirs } = state
  for (let top = heap.peek(); top !== undefined && top.at <= now; top = heap.peek()) {
    if (top.expiresAt !== undefined && top.expiresAt > now) {
      // Refreshed since it was queued: queue it at its real deadline.
      heap.set(top, top.expiresAt)
      continue
    }
    heap.remove(top)
    slots.delete(top.key)
    state.expirations++
    dirs.touch(top.key, "Removed")
  }
}

/** `f` at the caller's clock, after expiring what is due. */
const withNow =
  (state: State) =>
  <A>(f: (now: number) => A) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.sync(() => {
        expire(state, now)
        return f(now)
      })
    )

/** A new key, unless the limit's prefix is full. */
const create = (
  state: State,
  key: string,
  value: string,
  expiresAt: number | undefined,
  options?: PutOptions
) => {
  const limit = options?.limit
  if (limit !== undefined && state.dirs.count(limit.prefix) >= limit.max) {
    return Effect.fail(
      new KvError({
        store: "memory",
        reason: "LimitExceeded",
        detail: `${limit.prefix} already holds ${limit.max} keys`
      })
    )
  }
  const created: Slot = { key, value, expiresAt, at: 0, heapIndex: -1 }
  state.slots.set(key, created)
  if (expiresAt !== undefined) state.heap.set(created, expiresAt)
  state.dirs.touch(key, "Added")
  return Effect.succeed("created" as const)
}

/** A new value or deadline for an existing key; a heap entry moves only when its deadline comes earlier. */
const update = (state: State, slot: Slot, value: string, expiresAt: number | undefined) => {
  const previous = slot.expiresAt
  slot.expiresAt = expiresAt
  if (expiresAt === undefined) state.heap.remove(slot)
  else if (slot.heapIndex < 0 || expiresAt < slot.at) state.heap.set(slot, expiresAt)
  if (slot.value !== value) {
    slot.value = value
    state.dirs.touch(slot.key, "Changed")
  } else if (expiresAt !== undefined && (previous === undefined || expiresAt < previous)) {
    // Same contents, so no change for watchers; but one sleeping past the new deadline must re-plan.
    state.dirs.earlier(slot.key, expiresAt)
  }
  return Effect.succeed("updated" as const)
}

const put = (state: State) => (key: string, value: string, options?: PutOptions) =>
  Effect.flatMap(Clock.currentTimeMillis, (now) =>
    Effect.suspend(() => {
      expire(state, now)
      const ttl = options?.ttl === undefined ? undefined : Duration.toMillis(Duration.decode(options.ttl))
      const expiresAt = ttl === undefined ? undefined : now + ttl
      const slot = state.slots.get(key)
      return slot === undefined
        ? create(state, key, value, expiresAt, options)
        : update(state, slot, value, expiresAt)
    })
  )

/** Snapshots of `prefix`: one per change, waiting on the directory's signal or its next deadline. */
const watch =
  (state: State) =>
  (prefix: string): Stream.Stream<KvSnapshot, KvError> => {
    const { dirs } = state
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
              expire(state, now)
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

/** Deletes and reads, each at the caller's clock. */
const deletesAndReads = (state: State) => {
  const { slots, heap, dirs } = state
  const now = withNow(state)
  const removeKey = (key: string): boolean => {
    const slot = slots.get(key)
    if (slot === undefined) return false
    heap.remove(slot)
    slots.delete(key)
    dirs.touch(key, "Removed")
    return true
  }
  return {
    delete: (key: string) => now(() => removeKey(key)),
    deletePrefix: (prefix: string) =>
      now(() => {
        let n = 0
        for (const key of dirs.keysUnder(prefix)) if (removeKey(key)) n++
        return n
      }),
    list: (prefix: string) => now(() => dirs.snapshot(prefix)),
    expiries: (prefix: string) =>
      now((): ReadonlyMap<string, number> => {
        const out = new Map<string, number>()
        for (const key of dirs.keysUnder(prefix)) {
          const expiresAt = slots.get(key)?.expiresAt
          if (expiresAt !== undefined) out.set(key, expiresAt)
        }
        return out
      }),
    stats: now((): MemoryStats => ({
      entries: slots.size,
      clusters: dirs.nonEmpty(),
      expirations: state.expirations,
      deadlines: heap.size,
      directories: dirs.size()
    }))
  }
}

/** The store itself, without a Layer, so several layers can share one (see `memory://name`). */
export const unsafeMake = (): MemoryKvStore => {
  const slots = new Map<string, Slot>()
  const state: State = {
    slots,
    heap: new DeadlineHeap<Slot>(),
    dirs: Directories.make({
      value: (key) => slots.get(key)!.value,
      expiresAt: (key) => slots.get(key)!.expiresAt
    }),
    expirations: 0
  }
  return { put: put(state), watch: watch(state), ...deletesAndReads(state) }
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
