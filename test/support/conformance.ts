/**
 * The conformance suite every `Discovery` backend that can register must pass.
 *
 * A backend supplies a shared `layer` (a server, a store: built once for the
 * suite) and `cluster`, which makes a fresh, empty cluster and returns
 * `connect`, opening clients on it. Two clients on one cluster share state
 * through the backend, so the suite also tests its transport.
 *
 * `clock: "test"` runs on `TestClock` (backends whose time is Effect's, such as
 * `memory://`); `clock: "live"` runs on the real clock with short real waits,
 * bounded by `timeout` (backends behind a real server). `skip` opts a backend
 * out of a test that cannot apply to it, with the reason.
 *
 * ```ts
 * conformance("etcd://", {
 *   clock: "live",
 *   layer: EtcdServer.layer,                      // starts etcd once for the suite
 *   cluster: Effect.map(EtcdServer.Endpoint, (host) => {   // a fresh prefix per test
 *     const prefix = `conformance/${++n}`
 *     return (options) => Discovery.make(`etcd://${host}/${prefix}`, options)
 *   })
 * })
 * ```
 */
import { describe, layer } from "@effect/vitest"
import { assert } from "@effect/vitest"
import {
  Duration,
  Effect,
  Either,
  Layer,
  Logger,
  Queue,
  type Scope,
  Stream,
  TestClock,
  TestServices
} from "effect"
import type { DiscoveryError, DiscoveryOptions, DiscoveryShape } from "../../src/Discovery.js"
import * as Entries from "../../src/Entries.js"
import * as Entry from "../../src/Entry.js"

export type Connect = (
  options: DiscoveryOptions
) => Effect.Effect<DiscoveryShape, DiscoveryError, Scope.Scope>

export interface ConformanceOptions<R, E> {
  readonly clock: "test" | "live"
  /** Shared by every test of the suite. */
  readonly layer: Layer.Layer<R, E>
  /** A fresh, empty cluster; returns how to connect clients to it. */
  readonly cluster: Effect.Effect<Connect, unknown, R | Scope.Scope>
  /** The TTL of the expiry test. Default 3s on the test clock, 2s live. */
  readonly ttl?: Duration.DurationInput
  /** The clients' heartbeat (their polling interval, where they poll). Default 1s. */
  readonly heartbeat?: Duration.DurationInput
  /** How long a live test waits for the watch to show something. Default 5s. */
  readonly timeout?: Duration.DurationInput
  /**
   * Tests that do not apply to this backend, each with the reason (printed as the
   * skipped test's name), e.g. `{ ttl: "ZooKeeper entries live as long as the session" }`.
   */
  readonly skip?: Partial<Record<TestKey, string>>
}

export type TestKey =
  | "empty"
  | "first"
  | "idempotent"
  | "later"
  | "deregister"
  | "deregisterAbsent"
  | "onlyChanges"
  | "ipv6"
  | "ttl"
  | "isolation"

const e = (s: string): Entry.Entry => Either.getOrThrow(Entry.parse(s))
const show = (entries: Entries.Entries): string => JSON.stringify(Entries.format(entries))
const sameAs =
  (...expected: ReadonlyArray<string>) =>
  (entries: Entries.Entries) =>
    Entries.equals(entries, Entries.fromIterable(expected.map(e)))

export const conformance = <R, E>(name: string, options: ConformanceOptions<R, E>): void => {
  const live = options.clock === "live"
  const ttl = Duration.decode(options.ttl ?? (live ? "2 seconds" : "3 seconds"))
  const heartbeat = Duration.decode(options.heartbeat ?? "1 second")
  const timeout = Duration.decode(options.timeout ?? "5 seconds")
  const client = { heartbeat, ttl: Duration.seconds(60) }

  /** Bounds a wait on the real clock, whichever clock the test runs on. */
  const within = <A, E2, R2>(self: Effect.Effect<A, E2, R2>, limit: Duration.Duration, what: string) => {
    const bounded = (effect: Effect.Effect<A, E2, R2>) =>
      Effect.timeoutFail(effect, {
        duration: limit,
        onTimeout: () => new Error(`${name}: timed out after ${Duration.format(limit)} waiting for ${what}`)
      })
    return live ? bounded(self) : TestServices.provideWithLive(self, bounded)
  }

  /** Lets time pass: `TestClock.adjust` on the test clock, a real sleep live. */
  const elapse = (duration: Duration.Duration) => (live ? Effect.sleep(duration) : TestClock.adjust(duration))

  /** The first snapshot of a fresh watch: the current members. */
  const current = (discovery: DiscoveryShape) =>
    within(
      discovery.watch.pipe(Stream.take(1), Stream.runHead, Effect.flatten),
      timeout,
      "the first snapshot of a watch"
    )

  /** A background watch that keeps every snapshot it sees. */
  const watching = (discovery: DiscoveryShape) =>
    Effect.gen(function* () {
      const queue = yield* Queue.unbounded<Either.Either<Entries.Entries, DiscoveryError>>()
      const seen: Array<Entries.Entries> = []
      yield* discovery.watch.pipe(
        Stream.runForEach((entries) => Queue.offer(queue, Either.right(entries))),
        Effect.catchAll((error) => Queue.offer(queue, Either.left(error))),
        Effect.forkScoped
      )
      const next = Effect.flatMap(Queue.take(queue), (item) =>
        Either.match(item, {
          onLeft: (error) => Effect.fail(error),
          onRight: (entries) => Effect.sync(() => (seen.push(entries), entries))
        })
      )
      /** Waits until a snapshot satisfies `predicate`, and returns it. */
      const until = (predicate: (entries: Entries.Entries) => boolean, what: string, limit = timeout) =>
        within(
          Effect.iterate(seen[seen.length - 1], {
            while: (last) => last === undefined || !predicate(last),
            body: () => next
          }).pipe(Effect.map((last) => last!)),
          limit,
          `${what} (snapshots so far: ${seen.map(show).join(" ")})`
        )
      const first = within(next, timeout, "the first snapshot")
      return { first, until, seen }
    })

  const testLayer = live ? Layer.merge(options.layer, Logger.remove(Logger.defaultLogger)) : options.layer

  describe(`conformance: ${name}`, () => {
    layer(testLayer, { timeout: "60 seconds", excludeTestServices: live })((it) => {
      const test = <A>(
        key: TestKey,
        title: string,
        body: () => Effect.Effect<A, unknown, R | Scope.Scope | TestServices.TestServices>
      ) => {
        const reason = options.skip?.[key]
        if (reason === undefined) it.scoped(title, body)
        else it.scoped.skip(`${title} (skipped: ${reason})`, body)
      }

      test("empty", "a watch on an empty cluster emits [] first", () =>
        Effect.gen(function* () {
          const connect = yield* options.cluster
          const discovery = yield* connect(client)
          const w = yield* watching(discovery)
          assert.deepStrictEqual(Entries.format(yield* w.first), [])
        })
      )

      test("first", "register, then a watch shows it first", () =>
        Effect.gen(function* () {
          const connect = yield* options.cluster
          const discovery = yield* connect(client)
          yield* discovery.register(e("10.0.0.1:2375"))
          yield* discovery.register(e("10.0.0.2:2375"))
          assert.deepStrictEqual(Entries.format(yield* current(discovery)), [
            "10.0.0.1:2375",
            "10.0.0.2:2375"
          ])
        })
      )

      test("idempotent", "register is idempotent", () =>
        Effect.gen(function* () {
          const connect = yield* options.cluster
          const discovery = yield* connect(client)
          yield* discovery.register(e("10.0.0.1:2375"))
          yield* discovery.register(e("10.0.0.1:2375"))
          assert.deepStrictEqual(Entries.format(yield* current(discovery)), ["10.0.0.1:2375"])
        })
      )

      test("later", "a watch sees a registration made by another client after it started", () =>
        Effect.gen(function* () {
          const connect = yield* options.cluster
          const watcher = yield* connect(client)
          const joiner = yield* connect(client)
          const w = yield* watching(watcher)
          assert.deepStrictEqual(Entries.format(yield* w.first), [])
          yield* joiner.register(e("10.0.0.7:2375"))
          yield* w.until(sameAs("10.0.0.7:2375"), "10.0.0.7:2375 to appear")
          yield* joiner.register(e("node-b.example:2376"))
          yield* w.until(sameAs("10.0.0.7:2375", "node-b.example:2376"), "node-b.example:2376 to appear")
        })
      )

      test("deregister", "deregister removes one entry and the watch shows the other only", () =>
        Effect.gen(function* () {
          const connect = yield* options.cluster
          const discovery = yield* connect(client)
          yield* discovery.register(e("10.0.0.1:2375"))
          yield* discovery.register(e("10.0.0.2:2375"))
          const w = yield* watching(discovery)
          assert.deepStrictEqual(Entries.format(yield* w.first), ["10.0.0.1:2375", "10.0.0.2:2375"])
          yield* discovery.deregister(e("10.0.0.1:2375"))
          yield* w.until(sameAs("10.0.0.2:2375"), "10.0.0.1:2375 to go")
          // And it stays gone for a fresh watch too.
          assert.deepStrictEqual(Entries.format(yield* current(discovery)), ["10.0.0.2:2375"])
        })
      )

      test("deregisterAbsent", "deregister of an absent entry succeeds", () =>
        Effect.gen(function* () {
          const connect = yield* options.cluster
          const discovery = yield* connect(client)
          yield* discovery.deregister(e("10.9.9.9:2375"))
          assert.deepStrictEqual(Entries.format(yield* current(discovery)), [])
        })
      )

      test("onlyChanges", "the watch emits only changes", () =>
        Effect.gen(function* () {
          const connect = yield* options.cluster
          const discovery = yield* connect(client)
          const w = yield* watching(discovery)
          yield* w.first
          yield* discovery.register(e("10.0.0.1:2375"))
          yield* w.until(sameAs("10.0.0.1:2375"), "10.0.0.1:2375 to appear")
          // Refreshing an entry is no change; the next snapshot must be the new member.
          yield* discovery.register(e("10.0.0.1:2375"))
          yield* discovery.register(e("10.0.0.1:2375"))
          yield* discovery.register(e("10.0.0.3:2375"))
          yield* w.until(sameAs("10.0.0.1:2375", "10.0.0.3:2375"), "10.0.0.3:2375 to appear")
          for (let i = 1; i < w.seen.length; i++) {
            assert.isFalse(
              Entries.equals(w.seen[i - 1]!, w.seen[i]!),
              `snapshot ${i} repeats the one before: ${w.seen.map(show).join(" ")}`
            )
          }
        })
      )

      test("ipv6", "IPv6 entries round-trip", () =>
        Effect.gen(function* () {
          const connect = yield* options.cluster
          const discovery = yield* connect(client)
          yield* discovery.register(e("[2001:db8::1]:2375"))
          yield* discovery.register(e("[::1]:80"))
          const entries = yield* current(discovery)
          assert.deepStrictEqual(Entries.format(entries), ["[2001:db8::1]:2375", "[::1]:80"])
          assert.deepStrictEqual(
            entries.map((entry) => entry.host),
            ["2001:db8::1", "::1"]
          )
        })
      )

      test("ttl", "an entry expires after its TTL without re-registration", () =>
        Effect.gen(function* () {
          const connect = yield* options.cluster
          const short = yield* connect({ heartbeat, ttl })
          const long = yield* connect(client)
          yield* short.register(e("10.0.0.1:2375"))
          yield* long.register(e("10.0.0.2:2375"))
          const w = yield* watching(long)
          assert.deepStrictEqual(Entries.format(yield* w.first), ["10.0.0.1:2375", "10.0.0.2:2375"])
          // Half the TTL in: still there.
          yield* elapse(Duration.millis(Duration.toMillis(ttl) / 2))
          assert.deepStrictEqual(Entries.format(yield* current(long)), ["10.0.0.1:2375", "10.0.0.2:2375"])
          // Past the TTL: gone, and the long-lived entry stays.
          if (!live) yield* TestClock.adjust(ttl)
          yield* w.until(sameAs("10.0.0.2:2375"), "10.0.0.1:2375 to expire", Duration.sum(ttl, timeout))
        })
      )

      test("isolation", "distinct clusters do not see each other", () =>
        Effect.gen(function* () {
          const one = yield* options.cluster.pipe(Effect.flatMap((connect) => connect(client)))
          const two = yield* options.cluster.pipe(Effect.flatMap((connect) => connect(client)))
          yield* one.register(e("10.0.1.1:2375"))
          yield* two.register(e("10.0.2.1:2375"))
          const w = yield* watching(one)
          assert.deepStrictEqual(Entries.format(yield* w.first), ["10.0.1.1:2375"])
          assert.deepStrictEqual(Entries.format(yield* current(two)), ["10.0.2.1:2375"])
          yield* two.register(e("10.0.2.2:2375"))
          yield* one.register(e("10.0.1.2:2375"))
          yield* w.until(sameAs("10.0.1.1:2375", "10.0.1.2:2375"), "10.0.1.2:2375 to appear")
          for (const snapshot of w.seen) {
            assert.isFalse(
              Entries.format(snapshot).some((s) => s.startsWith("10.0.2.")),
              `cluster one saw cluster two: ${show(snapshot)}`
            )
          }
        })
      )
    })
  })
}
