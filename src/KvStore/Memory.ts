/**
 * An in-memory `KvStore`. TTLs run on Effect's `Clock`, read in the caller's
 * fiber, so `TestClock` drives expiry in tests. Expiry is lazy and
 * proportional to what expires: a min-heap of deadlines is drained before
 * every operation, and a watcher sleeps until the next deadline.
 */
import { Clock, Deferred, Duration, Effect, Layer, Option, Stream } from "effect"
import {
  KvStore,
  KvError,
  type KvPair,
  type KvSnapshot,
  type KvStoreShape,
  type PutOptions
} from "../KvStore.js"

interface Slot {
  readonly value: string
  /** Epoch millis, or undefined for no TTL. */
  readonly expiresAt: number | undefined
}

interface Deadline {
  readonly at: number
  readonly key: string
}

/** A binary min-heap of deadlines. */
class DeadlineHeap {
  private readonly items: Array<Deadline> = []
  get size(): number {
    return this.items.length
  }
  peek(): Deadline | undefined {
    return this.items[0]
  }
  push(item: Deadline): void {
    const a = this.items
    a.push(item)
    let i = a.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (a[parent]!.at <= a[i]!.at) break
      ;[a[parent], a[i]] = [a[i]!, a[parent]!]
      i = parent
    }
  }
  pop(): Deadline | undefined {
    const a = this.items
    const top = a[0]
    const last = a.pop()
    if (a.length > 0 && last !== undefined) {
      a[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let min = i
        if (l < a.length && a[l]!.at < a[min]!.at) min = l
        if (r < a.length && a[r]!.at < a[min]!.at) min = r
        if (min === i) break
        ;[a[min], a[i]] = [a[i]!, a[min]!]
        i = min
      }
    }
    return top
  }
}

const directoryOf = (key: string): string => key.slice(0, key.lastIndexOf("/") + 1)

export interface MemoryStats {
  readonly keys: number
  readonly expirations: number
}

/** The store itself, without a Layer, so several layers can share one (see `memory://name`). */
export const unsafeMake = (): KvStoreShape & { readonly stats: () => MemoryStats } => {
  const slots = new Map<string, Slot>()
  const heap = new DeadlineHeap()
  /** Last change index per directory (key up to its last `/`). */
  const directoryIndex = new Map<string, number>()
  let revision = 0
  let expirations = 0
  let changed = Deferred.unsafeMake<void>(undefined as never)

  const touch = (key: string) => {
    revision++
    // Every enclosing directory changes too, so a watch on `a/` sees `a/b/c`.
    for (let dir = directoryOf(key); ; dir = directoryOf(dir.slice(0, -1))) {
      directoryIndex.set(dir, revision)
      if (dir === "") break
    }
    Deferred.unsafeDone(changed, Effect.void)
    changed = Deferred.unsafeMake<void>(undefined as never)
  }

  const expire = (now: number) => {
    for (let top = heap.peek(); top !== undefined && top.at <= now; top = heap.peek()) {
      heap.pop()
      const slot = slots.get(top.key)
      // A later put may have moved the deadline; only the current one counts.
      if (slot !== undefined && slot.expiresAt === top.at) {
        slots.delete(top.key)
        expirations++
        touch(top.key)
      }
    }
  }

  const withNow = <A>(f: (now: number) => A) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.sync(() => {
        expire(now)
        return f(now)
      })
    )

  const indexOf = (prefix: string) => directoryIndex.get(prefix) ?? revision

  const snapshot = (prefix: string): KvSnapshot => {
    const pairs: Array<KvPair> = []
    for (const [key, slot] of slots) if (key.startsWith(prefix)) pairs.push({ key, value: slot.value })
    pairs.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    return { pairs, index: indexOf(prefix) }
  }

  const countUnder = (prefix: string) => {
    let n = 0
    for (const key of slots.keys()) if (key.startsWith(prefix)) n++
    return n
  }

  const put = (key: string, value: string, options?: PutOptions) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.suspend(() => {
        expire(now)
        const existed = slots.has(key)
        const limit = options?.limit
        if (!existed && limit !== undefined && countUnder(limit.prefix) >= limit.max) {
          return Effect.fail(
            new KvError({
              store: "memory",
              reason: "LimitExceeded",
              detail: `${limit.prefix} already holds ${limit.max} keys`
            })
          )
        }
        const ttl = options?.ttl === undefined ? undefined : Duration.toMillis(Duration.decode(options.ttl))
        const expiresAt = ttl === undefined ? undefined : now + ttl
        const previous = slots.get(key)
        slots.set(key, { value, expiresAt })
        if (expiresAt !== undefined) heap.push({ at: expiresAt, key })
        // A refresh with the same value changes nothing a watcher can see: do not wake long-polls every heartbeat.
        if (previous === undefined || previous.value !== value) touch(key)
        return Effect.succeed(existed ? ("updated" as const) : ("created" as const))
      })
    )

  const remove = (key: string) =>
    withNow(() => {
      const existed = slots.delete(key)
      if (existed) touch(key)
      return existed
    })

  const deletePrefix = (prefix: string) =>
    withNow(() => {
      let n = 0
      for (const key of [...slots.keys()]) {
        if (key.startsWith(prefix)) {
          slots.delete(key)
          touch(key)
          n++
        }
      }
      return n
    })

  const list = (prefix: string) => withNow(() => snapshot(prefix))

  /** The next moment something under the prefix may expire. */
  const nextDeadline = (prefix: string): Option.Option<number> => {
    let min: number | undefined
    for (const [key, slot] of slots) {
      if (
        slot.expiresAt !== undefined &&
        key.startsWith(prefix) &&
        (min === undefined || slot.expiresAt < min)
      ) {
        min = slot.expiresAt
      }
    }
    return Option.fromNullable(min)
  }

  const watch = (prefix: string): Stream.Stream<KvSnapshot, KvError> =>
    Stream.unwrap(
      Effect.sync(() => {
        let lastIndex = -1
        const step: Effect.Effect<Option.Option<KvSnapshot>> = Effect.gen(function* () {
          const signal = changed
          const now = yield* Clock.currentTimeMillis
          expire(now)
          const current = snapshot(prefix)
          if (current.index !== lastIndex) {
            lastIndex = current.index
            return Option.some(current)
          }
          // Nothing new: wait for a change, or for the next deadline under the prefix.
          const sleep = Option.match(nextDeadline(prefix), {
            onNone: () => Effect.never,
            onSome: (at) => Effect.sleep(Duration.millis(Math.max(0, at - now)))
          })
          yield* Effect.raceFirst(Deferred.await(signal), sleep)
          return Option.none()
        })
        return Stream.repeatEffect(step).pipe(Stream.filterMap((x) => x))
      })
    )

  return {
    put,
    delete: remove,
    deletePrefix,
    list,
    watch,
    stats: () => ({ keys: slots.size, expirations })
  }
}

export const make: Effect.Effect<KvStoreShape> = Effect.sync(unsafeMake)

export const layer: Layer.Layer<KvStore> = Layer.effect(KvStore, make)

const named = new Map<string, KvStoreShape>()

/** The process-wide store behind `memory://name`, created on first use. */
export const getNamed = (name: string): KvStoreShape => {
  let store = named.get(name)
  if (store === undefined) {
    store = unsafeMake()
    named.set(name, store)
  }
  return store
}
