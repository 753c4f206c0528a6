/**
 * What the KvStore suite's cases share (`KvStoreSuite.ts` runs them): the options a store gives, and the
 * context built from them: its clock, TTL window and depth, and the helpers that wait, watch and let time pass.
 */
import { assert } from "@effect/vitest"
import { Duration, Effect, type Fiber, Queue, type Scope, Stream, TestClock, TestServices } from "effect"
import type { KvError, KvSnapshot, KvStoreShape } from "../../src/KvStore.js"

export interface Subject {
  readonly store: KvStoreShape
  /** Moves the store's time on (test clock only): `TestClock.adjust` unless the store keeps its own clock. */
  readonly advance?: (duration: Duration.Duration) => Effect.Effect<void>
}

export interface StoreOptions<E> {
  readonly clock: "test" | "live"
  /** Opens the store for one test. */
  readonly make: Effect.Effect<Subject, E, Scope.Scope>
  /** The TTL of the expiry cases. */
  readonly ttl: Duration.DurationInput
  /** When a key put with `ttl` is gone, after its last put. Default: exactly at `ttl`. */
  readonly expiry?: { readonly earliest: Duration.DurationInput; readonly latest: Duration.DurationInput }
  /** What a directory prefix lists: every key below it (default), or its children only (ZooKeeper). */
  readonly depth?: "subtree" | "children"
  /** Bound on each real wait (live stores, and real I/O under the test clock). Default 15s. */
  readonly timeout?: Duration.DurationInput
  /** Whether each test's store starts empty (not a client of a server the file's tests share). Default true. */
  readonly fresh?: boolean
  /** Cases that do not apply to this store, each with the reason. */
  readonly skip?: Partial<Record<string, string>>
}

export interface Watching {
  /** The next snapshot. */
  readonly next: Effect.Effect<KvSnapshot, Error>
  /** The first snapshot (the last one seen included) that satisfies `predicate`. */
  readonly until: (predicate: (s: KvSnapshot) => boolean, what: string) => Effect.Effect<KvSnapshot, Error>
  readonly seen: ReadonlyArray<KvSnapshot>
  readonly fiber: Fiber.RuntimeFiber<void, KvError>
}

export interface Context {
  readonly live: boolean
  readonly ttl: Duration.Duration
  readonly withTtl: { readonly ttl: Duration.Duration }
  /** The expiry window, in ms after the last put. */
  readonly earliest: number
  readonly latest: number
  readonly subtree: boolean
  /** Bounds a wait on the real clock, whichever clock the test runs on. */
  readonly within: <A, E, R>(self: Effect.Effect<A, E, R>, what: string) => Effect.Effect<A, E | Error, R>
  /** Lets `millis` pass for the store. */
  readonly elapse: (subject: Subject, millis: number) => Effect.Effect<void>
  /** A background watch of `prefix`, for the test's scope. */
  readonly watching: (store: KvStoreShape, prefix: string) => Effect.Effect<Watching, never, Scope.Scope>
  /** Asserts that `keys`, last put `already` ms ago (test clock) or at `since` (live), expire in the window. */
  readonly expireInWindow: (
    subject: Subject,
    prefix: string,
    keys: ReadonlyArray<string>,
    already: number,
    since: number
  ) => Effect.Effect<void, KvError | Error, Scope.Scope>
}

/** One case of the suite: `key` names it in `skip`. */
export interface Case {
  readonly key: string
  readonly name: string | ((c: Context) => string)
  readonly body: (c: Context, s: Subject, p: string) => Effect.Effect<void, unknown, Scope.Scope>
}

export const keysOf = (snapshot: KvSnapshot): Array<string> => snapshot.pairs.map((p) => p.key)
const show = (snapshots: ReadonlyArray<KvSnapshot>) => JSON.stringify(snapshots.map(keysOf))

export const makeContext = <E>(options: StoreOptions<E>): Context => {
  const live = options.clock === "live"
  const ttl = Duration.decode(options.ttl)
  const earliest = Duration.toMillis(options.expiry?.earliest ?? ttl)
  const latest = Duration.toMillis(options.expiry?.latest ?? ttl)
  const timeout = Duration.decode(options.timeout ?? "15 seconds")

  const within = <A, E2, R2>(self: Effect.Effect<A, E2, R2>, what: string) => {
    const bounded = (effect: Effect.Effect<A, E2, R2>) =>
      Effect.timeoutFail(effect, {
        duration: timeout,
        onTimeout: () => new Error(`timed out after ${Duration.format(timeout)} waiting for ${what}`)
      })
    return live ? bounded(self) : TestServices.provideWithLive(self, bounded)
  }

  const elapse = (subject: Subject, millis: number) => {
    const duration = Duration.millis(millis)
    if (live) return Effect.sleep(duration)
    return subject.advance === undefined ? TestClock.adjust(duration) : subject.advance(duration)
  }

  const watching = (store: KvStoreShape, prefix: string) =>
    Effect.gen(function* () {
      const queue = yield* Queue.unbounded<KvSnapshot>()
      const seen: Array<KvSnapshot> = []
      const fiber = yield* store.watch(prefix).pipe(
        Stream.runForEach((s) => Queue.offer(queue, s)),
        Effect.forkScoped
      )
      const take = Effect.tap(Queue.take(queue), (s) => Effect.sync(() => seen.push(s)))
      const next = Effect.suspend(() => within(take, `a snapshot of ${prefix} (so far: ${show(seen)})`))
      const until = (predicate: (s: KvSnapshot) => boolean, what: string) =>
        Effect.suspend(() =>
          within(
            Effect.iterate(seen[seen.length - 1], {
              while: (last) => last === undefined || !predicate(last),
              body: () => take
            }),
            `${what} (so far: ${show(seen)})`
          )
        ).pipe(Effect.map((last) => last!))
      return { next, until, seen, fiber }
    })

  const expireInWindow = (
    subject: Subject,
    prefix: string,
    keys: ReadonlyArray<string>,
    already: number,
    since: number
  ) =>
    Effect.gen(function* () {
      const present = (s: KvSnapshot) => keys.filter((k) => keysOf(s).includes(k))
      if (!live) {
        yield* elapse(subject, earliest - 1 - already)
        const before = present(yield* subject.store.list(prefix))
        assert.deepStrictEqual(before, [...keys], "present until the earliest expiry")
        yield* elapse(subject, latest - earliest + 1)
        assert.deepStrictEqual(present(yield* subject.store.list(prefix)), [], "gone by the latest expiry")
        return
      }
      const w = yield* watching(subject.store, prefix)
      yield* w.until((s) => present(s).length === 0, `${keys.join(", ")} to expire`)
      const lived = Date.now() - since
      assert.isAtLeast(lived, earliest, `expired ${lived}ms after the last put`)
    })

  return {
    live,
    ttl,
    withTtl: { ttl },
    earliest,
    latest,
    subtree: (options.depth ?? "subtree") === "subtree",
    within,
    elapse,
    watching,
    expireInWindow
  }
}
