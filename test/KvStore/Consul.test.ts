/**
 * The Consul store against the in-process double of Consul's HTTP API.
 * The double's clock is a `ManualClock` (session expiry, the end of blocking
 * waits); the store's own waits (timeouts, retry backoff) run on `TestClock`.
 * The only real waits are short bounded polls for I/O to land.
 */
import { HttpClient, HttpClientResponse } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Either, Exit, Fiber, Option, Queue, Scope, Stream, TestClock } from "effect"
import { mkdtempSync, rmSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { KvError, KvSnapshot, KvStoreShape } from "../../src/KvStore.js"
import * as Consul from "../../src/KvStore/Consul.js"
import * as Endpoint from "../../src/internal/consul/endpoint.js"
import { sessionTtlMillis } from "../../src/internal/consul/sessions.js"
import { foreignSession, httpPut, tick, until } from "../support/consul/Fixtures.js"
import { consulDouble, ManualClock } from "../support/consulDouble.js"
import { freePort } from "../support/net.js"
import { makeTestPki } from "../support/tls.js"
import { testStore } from "../support/KvStoreSuite.js"

const keys = (snapshot: KvSnapshot) => snapshot.pairs.map((p) => p.key)

/** Collects a watch into a queue; `next` waits (bounded, real time) for the next snapshot. */
const watchInto = (store: KvStoreShape, prefix: string) =>
  Effect.gen(function* () {
    const queue = yield* Queue.unbounded<Either.Either<KvSnapshot, KvError>>()
    const fiber = yield* store.watch(prefix).pipe(
      Stream.runForEach((s) => Queue.offer(queue, Either.right(s))),
      Effect.catchAll((error) => Queue.offer(queue, Either.left(error))),
      Effect.forkScoped
    )
    const poll = Effect.flatMap(Queue.poll(queue), (item) =>
      Option.match(item, {
        onNone: () => Effect.succeed(Option.none<KvSnapshot>()),
        onSome: Either.match({ onLeft: Effect.fail, onRight: (s) => Effect.succeed(Option.some(s)) })
      })
    )
    const next = Effect.gen(function* () {
      for (let i = 0; i < 600; i++) {
        const item = yield* poll
        if (Option.isSome(item)) return item.value
        yield* tick
      }
      return yield* Effect.dieMessage(`timed out waiting for a snapshot of ${prefix}`)
    })
    return { next, queue, fiber }
  })

const setup = (options: { readonly clock?: ManualClock } = {}) =>
  Effect.gen(function* () {
    const clock = options.clock ?? new ManualClock()
    const double = yield* consulDouble({ clock })
    const store = yield* Consul.make({ address: double.address })
    return { clock, double, store }
  })

/** A store over a fresh double per test, its sessions and blocking waits on the double's manual clock. */
const subject = Effect.map(setup(), ({ clock, store }) => ({
  store,
  advance: (duration: Duration.Duration) => Effect.sync(() => clock.advance(Duration.toMillis(duration)))
}))

describe("KvStore/Consul: the KvStore suite (over the double)", () => {
  // Keys vanish at exactly the TTL here: the double invalidates a session at twice its TTL, as Consul does at most.
  testStore({ clock: "test", ttl: "30 seconds", make: subject, skip: { expiries: "Consul does not tell" } })
})

describe("KvStore/Consul", () => {
  describe("resolveEndpoint", () => {
    const resolve = (address: string, tls?: { ca: string }) => Endpoint.resolve(address, tls)
    it("host:port is http, and https with TLS files; the port defaults to 8500", () => {
      assert.deepStrictEqual(Either.getOrThrow(resolve("10.0.0.1:8501")), {
        origin: "http://10.0.0.1:8501",
        basePath: "",
        secure: false
      })
      assert.strictEqual(Either.getOrThrow(resolve("consul.local")).origin, "http://consul.local:8500")
      assert.strictEqual(
        Either.getOrThrow(resolve("consul.local:8501", { ca: "ca.pem" })).origin,
        "https://consul.local:8501"
      )
      assert.strictEqual(Either.getOrThrow(resolve("[::1]:8500")).origin, "http://[::1]:8500")
    })
    it("a URL is taken as it is, base path included", () => {
      assert.deepStrictEqual(Either.getOrThrow(resolve("https://proxy.example/consul/")), {
        origin: "https://proxy.example",
        basePath: "/consul",
        secure: true
      })
    })
    it("rejects other schemes, paths without a scheme, and TLS over http://", () => {
      for (const [address, tls, fragment] of [
        ["ftp://h:1", undefined, "scheme must be http or https"],
        ["h:1/x", undefined, "without a path"],
        ["http://h:1", { ca: "ca.pem" }, "use https://"],
        ["h:99999", undefined, "expected host:port"]
      ] as const) {
        const result = resolve(address, tls)
        assert.isTrue(Either.isLeft(result), address)
        if (Either.isLeft(result)) {
          assert.strictEqual(result.left.reason, "Invalid")
          assert.include(result.left.detail, fragment)
        }
      }
    })
  })

  it("the session TTL is half the key TTL, within Consul's 10s..24h", () => {
    assert.strictEqual(sessionTtlMillis("60 seconds"), 30_000)
    assert.strictEqual(sessionTtlMillis("25 seconds"), 12_500)
    assert.strictEqual(sessionTtlMillis("5 seconds"), 10_000)
    assert.strictEqual(sessionTtlMillis("72 hours"), 24 * 3_600_000)
  })

  it.scoped("what Consul holds: values as written, the list's index Consul's, no session without a TTL", () =>
    Effect.gen(function* () {
      const { double, store } = yield* setup()
      yield* store.put("a/x", "2")
      yield* store.put("a/y", "héllo wörld")
      const a = yield* store.list("a/")
      assert.strictEqual(a.index, double.get("a/y")!.modifyIndex)
      assert.strictEqual(double.get("a/y")!.value, "héllo wörld")
      yield* store.put("c/1/a", "x")
      yield* store.put("c/10/a", "x")
      assert.strictEqual(yield* store.deletePrefix("c/1/"), 1)
      assert.deepStrictEqual(double.keys(), ["a/x", "a/y", "c/10/a"])
      assert.strictEqual(double.sessions().length, 0)
      assert.isUndefined(double.get("a/y")!.session)
    })
  )

  it.scoped("stats: every key, and clusters (first path segments), from one listing; empty is zero", () =>
    Effect.gen(function* () {
      const { double, store } = yield* setup()
      assert.deepStrictEqual(yield* store.stats, { entries: 0, clusters: 0 })
      const keys = ["a/x", "a/y", "c/10/a", "loose"]
      for (const k of keys) yield* store.put(k, "v", k === "a/y" ? { ttl: "10 seconds" } : undefined)
      const clusters = new Set(
        double
          .keys()
          .filter((k) => k.includes("/"))
          .map((k) => k.split("/")[0])
      )
      assert.deepStrictEqual(yield* store.stats, { entries: double.keys().length, clusters: clusters.size })
      assert.deepStrictEqual(yield* store.stats, { entries: keys.length, clusters: 2 })
      yield* store.deletePrefix("a/")
      assert.deepStrictEqual(yield* store.stats, { entries: 2, clusters: 1 })
    })
  )

  it.scoped("a missing prefix lists empty, with Consul's index", () =>
    Effect.gen(function* () {
      const { double, store } = yield* setup()
      yield* store.put("elsewhere/k", "v")
      const empty = yield* store.list("nothing/here/")
      assert.deepStrictEqual(empty.pairs, [])
      assert.strictEqual(empty.index, double.index)
    })
  )

  it.scoped("Swarm keys with colons and brackets round-trip; a leading slash is dropped", () =>
    Effect.gen(function* () {
      const { double, store } = yield* setup()
      yield* store.put("swarm/docker/nodes/[2001:db8::1]:2375", "[2001:db8::1]:2375")
      yield* store.put("/swarm/docker/nodes/10.0.0.1:2375", "10.0.0.1:2375")
      assert.deepStrictEqual(double.keys(), [
        "swarm/docker/nodes/10.0.0.1:2375",
        "swarm/docker/nodes/[2001:db8::1]:2375"
      ])
      assert.deepStrictEqual((yield* store.list("swarm/docker/nodes/")).pairs, [
        { key: "swarm/docker/nodes/10.0.0.1:2375", value: "10.0.0.1:2375" },
        { key: "swarm/docker/nodes/[2001:db8::1]:2375", value: "[2001:db8::1]:2375" }
      ])
    })
  )

  it.scoped(
    "a TTL put holds the key with a delete-behaviour session of half the TTL; it vanishes at the TTL",
    () =>
      Effect.gen(function* () {
        const { clock, double, store } = yield* setup()
        yield* store.put("n/a", "x", { ttl: "30 seconds" })
        const [session] = double.sessions()
        assert.strictEqual(session?.ttlMillis, 15_000)
        assert.strictEqual(session?.behavior, "delete")
        assert.strictEqual(session?.lockDelayMillis, 0)
        assert.strictEqual(double.get("n/a")?.session, session?.id)
        clock.advance(29_999)
        assert.deepStrictEqual(keys(yield* store.list("n/")), ["n/a"])
        clock.advance(1)
        assert.deepStrictEqual(keys(yield* store.list("n/")), [])
        assert.strictEqual(double.sessions().length, 0)
      })
  )

  it.scoped("each put renews the one session, so a refreshed key lives a TTL past its last put", () =>
    Effect.gen(function* () {
      const { clock, double, store } = yield* setup()
      yield* store.put("n/a", "x", { ttl: "30 seconds" })
      yield* store.put("n/b", "y", { ttl: "30 seconds" })
      clock.advance(20_000)
      assert.strictEqual(yield* store.put("n/a", "x2", { ttl: "30 seconds" }), "updated")
      clock.advance(29_999)
      assert.deepStrictEqual((yield* store.list("n/")).pairs, [
        { key: "n/a", value: "x2" },
        { key: "n/b", value: "y" }
      ])
      clock.advance(1)
      assert.deepStrictEqual(keys(yield* store.list("n/")), [])
      assert.strictEqual(double.count("PUT", "/v1/session/create"), 1)
      assert.isAtLeast(double.count("PUT", "/v1/session/renew/"), 2)
    })
  )

  it.scoped("a refresh with the same value renews the session and writes nothing, so no watcher wakes", () =>
    Effect.gen(function* () {
      const { clock, double, store } = yield* setup()
      assert.strictEqual(yield* store.put("n/a", "x", { ttl: "30 seconds" }), "created")
      const written = double.get("n/a")!
      const writes = () => double.count("PUT", "/v1/txn")
      clock.advance(20_000)
      assert.strictEqual(yield* store.put("n/a", "x", { ttl: "30 seconds" }), "updated")
      assert.strictEqual(writes(), 1)
      assert.strictEqual(double.get("n/a")?.modifyIndex, written.modifyIndex)
      // Renewed: alive a whole TTL after the refresh, gone after it.
      clock.advance(29_999)
      assert.deepStrictEqual(keys(yield* store.list("n/")), ["n/a"])
      clock.advance(1)
      assert.deepStrictEqual(keys(yield* store.list("n/")), [])
      // A new value is written.
      yield* store.put("n/b", "y", { ttl: "30 seconds" })
      const before = writes()
      yield* store.put("n/b", "y2", { ttl: "30 seconds" })
      assert.strictEqual(double.get("n/b")?.value, "y2")
      assert.strictEqual(writes(), before + 1)
    })
  )

  it.scoped("a TTL under 20s uses Consul's 10s minimum session, so it lives 20s", () =>
    Effect.gen(function* () {
      const { clock, double, store } = yield* setup()
      yield* store.put("s/a", "x", { ttl: "5 seconds" })
      assert.strictEqual(double.sessions()[0]?.ttlMillis, 10_000)
      clock.advance(19_999)
      assert.deepStrictEqual(keys(yield* store.list("s/")), ["s/a"])
      clock.advance(1)
      assert.deepStrictEqual(keys(yield* store.list("s/")), [])
    })
  )

  it.scoped("an invalidated session is re-created by the next put (renew answered 404)", () =>
    Effect.gen(function* () {
      const { clock, double, store } = yield* setup()
      yield* store.put("n/a", "x", { ttl: "30 seconds" })
      const first = double.sessions()[0]!.id
      clock.advance(30_000)
      assert.deepStrictEqual(double.keys(), [])
      assert.strictEqual(yield* store.put("n/a", "x", { ttl: "30 seconds" }), "created")
      const second = double.sessions()[0]!.id
      assert.notStrictEqual(second, first)
      assert.strictEqual(double.get("n/a")?.session, second)
      assert.strictEqual(double.count("PUT", "/v1/session/create"), 2)
    })
  )

  it.scoped("a key held by another session is taken over, and outlives that session", () =>
    Effect.gen(function* () {
      const { clock, double, store } = yield* setup()
      const other = yield* foreignSession(double)
      assert.strictEqual(yield* httpPut(double, `/v1/kv/n/a?acquire=${other}`, "old"), "true")
      assert.strictEqual(yield* store.put("n/a", "new", { ttl: "60 seconds" }), "updated")
      const ours = double.get("n/a")!.session
      assert.notStrictEqual(ours, other)
      assert.strictEqual(double.get("n/a")?.value, "new")
      yield* httpPut(double, `/v1/session/destroy/${other}`, "")
      assert.strictEqual(double.get("n/a")?.value, "new")
      // And a put without TTL on someone else's key makes it permanent.
      const third = yield* foreignSession(double)
      yield* httpPut(double, `/v1/kv/p/b?acquire=${third}`, "theirs")
      yield* store.put("p/b", "mine")
      assert.isUndefined(double.get("p/b")?.session)
      clock.advance(120_000)
      assert.strictEqual(double.get("p/b")?.value, "mine")
    })
  )

  it.scoped("a put without TTL on our own TTL key releases it, so it stays", () =>
    Effect.gen(function* () {
      const { clock, double, store } = yield* setup()
      yield* store.put("n/a", "x", { ttl: "30 seconds" })
      yield* store.put("n/a", "forever")
      assert.isUndefined(double.get("n/a")?.session)
      clock.advance(60_000)
      assert.deepStrictEqual((yield* store.list("n/")).pairs, [{ key: "n/a", value: "forever" }])
    })
  )

  it.effect("closing the store destroys its session, which deletes its keys (graceful leave)", () =>
    Effect.gen(function* () {
      const outer = yield* Scope.make()
      const double = yield* Scope.extend(consulDouble({ clock: new ManualClock() }), outer)
      const inner = yield* Scope.make()
      const store = yield* Scope.extend(Consul.make({ address: double.address }), inner)
      yield* store.put("n/a", "x", { ttl: "60 seconds" })
      yield* store.put("n/plain", "kept")
      assert.strictEqual(double.sessions().length, 1)
      yield* Scope.close(inner, Exit.void)
      assert.strictEqual(double.sessions().length, 0)
      assert.deepStrictEqual(double.keys(), ["n/plain"])
      yield* Scope.close(outer, Exit.void)
    })
  )

  describe("watch", () => {
    it.scoped("emits the current snapshot, then wakes from a blocking query on a change", () =>
      Effect.gen(function* () {
        const { double, store } = yield* setup()
        yield* store.put("w/a", "1")
        const w = yield* watchInto(store, "w/")
        const first = yield* w.next
        assert.deepStrictEqual(first.pairs, [{ key: "w/a", value: "1" }])
        yield* until(() => double.blocked === 1, "the watch to block")
        const blockingGet = double.requests.at(-1)!
        assert.include(blockingGet.query, `index=${first.index}`)
        assert.include(blockingGet.query, "wait=30s")
        yield* store.put("w/b", "2")
        const second = yield* w.next
        assert.deepStrictEqual(keys(second), ["w/a", "w/b"])
        assert.isAbove(second.index, first.index)
        yield* store.delete("w/a")
        assert.deepStrictEqual(keys(yield* w.next), ["w/b"])
      })
    )

    it.scoped("the last key going away wakes the blocking query with a 404, which is an empty snapshot", () =>
      Effect.gen(function* () {
        const { double, store } = yield* setup()
        yield* store.put("w/only", "1")
        const w = yield* watchInto(store, "w/")
        const first = yield* w.next
        assert.deepStrictEqual(keys(first), ["w/only"])
        yield* until(() => double.blocked === 1, "the watch to block")
        yield* store.delete("w/only")
        const empty = yield* w.next
        assert.deepStrictEqual(empty.pairs, [])
        assert.isAbove(empty.index, first.index)
        // It blocks again, on the index of the 404, and sees the next key.
        yield* until(() => double.blocked === 1, "the watch to block again")
        assert.include(double.requests.at(-1)!.query, `index=${empty.index}`)
        yield* store.put("w/next", "2")
        assert.deepStrictEqual(keys(yield* w.next), ["w/next"])
      })
    )

    it.scoped("a wait that ends without a change emits nothing and blocks again", () =>
      Effect.gen(function* () {
        const { clock, double, store } = yield* setup()
        yield* store.put("w/a", "1")
        const w = yield* watchInto(store, "w/")
        assert.deepStrictEqual(keys(yield* w.next), ["w/a"])
        yield* until(() => double.blocked === 1, "the watch to block")
        const gets = double.count("GET", "/v1/kv/w/")
        clock.advance(30_000)
        yield* until(
          () => double.count("GET", "/v1/kv/w/") === gets + 1 && double.blocked === 1,
          "a new blocking query"
        )
        // Changes elsewhere do not wake it either: the next snapshot is the next change here.
        yield* store.put("other/x", "1")
        yield* store.put("w/x", "1")
        assert.deepStrictEqual(keys(yield* w.next), ["w/a", "w/x"])
      })
    )

    it.scoped(
      "on an empty prefix Consul's index is the whole table's: a change elsewhere emits an equal snapshot",
      () =>
        Effect.gen(function* () {
          const { double, store } = yield* setup()
          const w = yield* watchInto(store, "w/")
          const first = yield* w.next
          assert.deepStrictEqual(first.pairs, [])
          yield* until(() => double.blocked === 1, "the watch to block")
          yield* store.put("other/x", "1")
          const second = yield* w.next
          assert.deepStrictEqual(second.pairs, [])
          assert.isAbove(second.index, first.index)
        })
    )

    it.scoped(
      "when Consul's index goes backwards it starts over from 0, and its own index keeps growing",
      () =>
        Effect.gen(function* () {
          const { double, store } = yield* setup()
          for (let i = 0; i < 5; i++) yield* store.put(`w/${i}`, "x")
          const w = yield* watchInto(store, "w/")
          const first = yield* w.next
          assert.strictEqual(first.pairs.length, 5)
          yield* until(() => double.blocked === 1, "the watch to block")
          // A fresh server state: the index restarts far below the one the watch blocks on.
          const before = double.requests.length
          double.reset()
          const afterReset = yield* w.next
          assert.deepStrictEqual(afterReset.pairs, [])
          assert.isAbove(afterReset.index, first.index)
          // It started over with a query that answers at once (no index), then blocks on the new, lower index.
          const since = double.requests.slice(before).filter((r) => r.path === "/v1/kv/w/")
          assert.isTrue(
            since.some((r) => !r.query.includes("index=")),
            JSON.stringify(since)
          )
          yield* until(() => double.blocked === 1, "the watch to block again")
          assert.isBelow(double.index, first.index)
          yield* store.put("w/new", "y")
          const afterPut = yield* w.next
          assert.deepStrictEqual(keys(afterPut), ["w/new"])
          assert.isAbove(afterPut.index, afterReset.index)
        })
    )

    it.scoped("reaped tombstones lower the index; the watch resets and still sees the next change", () =>
      Effect.gen(function* () {
        const { clock, double, store } = yield* setup()
        yield* store.put("w/a", "1")
        yield* store.put("w/b", "2")
        yield* store.delete("w/b")
        const w = yield* watchInto(store, "w/")
        const first = yield* w.next
        yield* until(() => double.blocked === 1, "the watch to block")
        double.reapTombstones()
        // Consul answers at the end of the wait with an index below the one asked for.
        clock.advance(30_000)
        const again = yield* w.next
        assert.deepStrictEqual(keys(again), ["w/a"])
        assert.isAbove(again.index, first.index)
        yield* until(() => double.blocked === 1, "the watch to block again")
        yield* store.put("w/c", "3")
        assert.deepStrictEqual(keys(yield* w.next), ["w/a", "w/c"])
      })
    )

    it.scoped("survives a server restart: retries with backoff, then converges", () =>
      Effect.gen(function* () {
        const { double, store } = yield* setup()
        yield* store.put("w/a", "1")
        const w = yield* watchInto(store, "w/")
        assert.deepStrictEqual(keys(yield* w.next), ["w/a"])
        yield* until(() => double.blocked === 1, "the watch to block")
        yield* Effect.promise(() => double.stop())
        // While it is down, the retries fail; let a few of them run.
        for (let i = 0; i < 3; i++) {
          yield* TestClock.adjust(Duration.seconds(5))
          yield* tick
        }
        yield* Effect.promise(() => double.start())
        yield* store.put("w/b", "2")
        let snapshot: KvSnapshot | undefined
        for (let i = 0; i < 200 && snapshot === undefined; i++) {
          yield* TestClock.adjust(Duration.seconds(5))
          yield* tick
          const item = yield* Queue.poll(w.queue)
          if (Option.isSome(item)) snapshot = Either.getOrThrow(item.value)
        }
        assert.deepStrictEqual(snapshot && keys(snapshot), ["w/a", "w/b"])
        assert.isNull(w.fiber.unsafePoll())
      })
    )

    it.scoped("a server restarted empty: the watch recovers and shows the new state", () =>
      Effect.gen(function* () {
        const { double, store } = yield* setup()
        yield* store.put("w/a", "1")
        const w = yield* watchInto(store, "w/")
        const first = yield* w.next
        yield* until(() => double.blocked === 1, "the watch to block")
        yield* Effect.promise(() => double.stop())
        double.reset()
        yield* Effect.promise(() => double.start())
        let snapshot: KvSnapshot | undefined
        for (let i = 0; i < 200 && snapshot === undefined; i++) {
          yield* TestClock.adjust(Duration.seconds(1))
          yield* tick
          const item = yield* Queue.poll(w.queue)
          if (Option.isSome(item)) snapshot = Either.getOrThrow(item.value)
        }
        assert.deepStrictEqual(snapshot?.pairs, [])
        assert.isAbove(snapshot!.index, first.index)
      })
    )
  })

  describe("errors", () => {
    it.scoped("nothing listening: list, put and the first watch fail Unavailable, naming the address", () =>
      Effect.gen(function* () {
        const port = yield* Effect.promise(freePort)
        const store = yield* Consul.make({ address: `127.0.0.1:${port}` })
        for (const error of [
          yield* Effect.flip(store.list("x/")),
          yield* Effect.flip(store.put("x/a", "1", { ttl: "30 seconds" })),
          yield* Effect.flip(Stream.runHead(store.watch("x/")))
        ]) {
          assert.strictEqual(error.reason, "Unavailable")
          assert.include(error.detail, `http://127.0.0.1:${port}`)
          assert.include(error.message, "ECONNREFUSED")
        }
      })
    )

    it.scoped("a server that never answers: Timeout after the request timeout", () =>
      Effect.gen(function* () {
        const { double } = yield* setup()
        const store = yield* Consul.make({ address: double.address, requestTimeout: "2 seconds" })
        double.stall(true)
        const fiber = yield* Effect.fork(Effect.flip(store.list("x/")))
        yield* until(() => double.requests.length === 1, "the request to arrive")
        yield* TestClock.adjust(Duration.seconds(2))
        const error = yield* Fiber.join(fiber)
        assert.strictEqual(error.reason, "Timeout")
        assert.include(error.detail, `http://${double.address}`)
        assert.include(error.detail, "2s")
        // One deadline for the whole operation: the first put creates the session, then writes.
        const put = yield* Effect.fork(Effect.flip(store.put("x/a", "v", { ttl: "60 seconds" })))
        yield* until(() => double.requests.length === 2, "the put's first request to arrive")
        yield* TestClock.adjust(Duration.seconds(2))
        const late = yield* Fiber.join(put)
        assert.strictEqual(late.reason, "Timeout")
        assert.include(late.detail, "a put of x/a within 2s")
        double.stall(false)
      })
    )

    it.scoped("an answer over maxBodyBytes is a BadResponse, sent with a length or chunked", () =>
      Effect.gen(function* () {
        const { double } = yield* setup()
        const store = yield* Consul.make({ address: double.address, maxBodyBytes: 1000 })
        // Like Consul (Go's net/http), the double sends a length under 2 KB and chunks anything larger.
        for (const [prefix, size] of [
          ["short/", 1200],
          ["long/", 5000]
        ] as const) {
          assert.strictEqual(yield* httpPut(double, `/v1/kv/${prefix}a`, "x".repeat(size)), "true")
          const error = yield* Effect.flip(store.list(prefix))
          assert.strictEqual(error.reason, "BadResponse")
          assert.include(error.detail, "more than 1000 bytes")
        }
        assert.deepStrictEqual(keys(yield* store.list("nothing/")), [])
      })
    )

    it.scoped("something that is not Consul: BadResponse", () =>
      Effect.gen(function* () {
        const { double } = yield* setup()
        const store = yield* Consul.make({ address: `http://${double.address}/not-consul` })
        const error = yield* Effect.flip(store.list("x/"))
        assert.strictEqual(error.reason, "BadResponse")
        assert.include(error.detail, "404")
        assert.include(error.detail, "X-Consul-Index")
      })
    )

    it.scoped("TLS files that do not exist, or a cert without a key: Invalid, naming the option", () =>
      Effect.gen(function* () {
        const missing = yield* Effect.flip(
          Consul.make({ address: "127.0.0.1:1", tls: { ca: "/nonexistent/ca.pem" } })
        )
        assert.strictEqual(missing.reason, "Invalid")
        assert.include(missing.detail, "kv.cacertfile /nonexistent/ca.pem")
        const half = yield* Effect.flip(Consul.make({ address: "127.0.0.1:1", tls: { cert: "/x/cert.pem" } }))
        assert.include(half.detail, "kv.keyfile")
      })
    )
  })

  describe("HttpClient", () => {
    /** A client that never touches the network: it answers from `reply` and records what was asked. */
    const fakeClient = (
      reply: (url: URL, method: string) => { status: number; body: string; index?: number }
    ) => {
      const seen: Array<string> = []
      const client = HttpClient.make((request, url) =>
        Effect.sync(() => {
          seen.push(`${request.method} ${url.pathname}${url.search}`)
          const { status, body, index } = reply(url, request.method)
          return HttpClientResponse.fromWeb(
            request,
            new Response(body, {
              status,
              headers: index === undefined ? {} : { "X-Consul-Index": String(index) }
            })
          )
        })
      )
      return { client, seen }
    }

    it.scoped(
      "makeWithHttpClient uses the client from the context (a test double here: no server at all)",
      () =>
        Effect.gen(function* () {
          const { client, seen } = fakeClient((url) =>
            url.pathname === "/v1/kv/n/"
              ? {
                  status: 200,
                  index: 7,
                  body: JSON.stringify([
                    { Key: "n/10.0.0.1:2375", Value: Buffer.from("10.0.0.1:2375").toString("base64") }
                  ])
                }
              : { status: 404, body: "", index: 3 }
          )
          const store = yield* Effect.provideService(
            Consul.makeWithHttpClient({ address: "consul.invalid:8500" }),
            HttpClient.HttpClient,
            client
          )
          assert.deepStrictEqual(yield* store.list("n/"), {
            pairs: [{ key: "n/10.0.0.1:2375", value: "10.0.0.1:2375" }],
            index: 7
          })
          assert.deepStrictEqual(yield* store.list("empty/"), { pairs: [], index: 3 })
          assert.deepStrictEqual(seen, ["GET /v1/kv/n/?recurse", "GET /v1/kv/empty/?recurse"])
        })
    )

    it.scoped(
      "an answer larger than maxBodyBytes is a BadResponse naming the bound; a bad JSON entry too",
      () =>
        Effect.gen(function* () {
          const { client } = fakeClient((url) =>
            url.pathname === "/v1/kv/big/"
              ? { status: 200, index: 2, body: JSON.stringify([{ Key: "big/a", Value: "x".repeat(5000) }]) }
              : { status: 200, index: 2, body: JSON.stringify([{ Key: 42 }]) }
          )
          const store = yield* Effect.provideService(
            Consul.makeWithHttpClient({ address: "consul.invalid:8500", maxBodyBytes: 1000 }),
            HttpClient.HttpClient,
            client
          )
          const big = yield* Effect.flip(store.list("big/"))
          assert.strictEqual(big.reason, "BadResponse")
          assert.include(big.detail, "more than 1000 bytes")
          const bad = yield* Effect.flip(store.list("bad/"))
          assert.strictEqual(bad.reason, "BadResponse")
          assert.include(bad.detail, "expected a JSON array of KV entries")
          assert.isDefined(bad.cause)
        })
    )
  })

  describe("TLS", () => {
    const pki = () => makeTestPki({ dir: mkdtempSync(join(tmpdir(), "consul-tls-")) }).dir

    it.scoped("mutual TLS with kv.cacertfile, kv.certfile and kv.keyfile; https is implied", () =>
      Effect.gen(function* () {
        const dir = yield* Effect.acquireRelease(Effect.sync(pki), (d) =>
          Effect.sync(() => rmSync(d, { recursive: true, force: true }))
        )
        const file = (name: string) => join(dir, name)
        const double = yield* consulDouble({
          clock: new ManualClock(),
          tls: {
            cert: readFileSync(file("server.pem"), "utf8"),
            key: readFileSync(file("server.key"), "utf8"),
            ca: readFileSync(file("ca.pem"), "utf8")
          }
        })
        const store = yield* Consul.make({
          address: double.address,
          tls: { ca: file("ca.pem"), cert: file("client.pem"), key: file("client.key") }
        })
        yield* store.put("t/a", "1", { ttl: "30 seconds" })
        assert.deepStrictEqual((yield* store.list("t/")).pairs, [{ key: "t/a", value: "1" }])
        // Without a client certificate the server refuses; without the CA we refuse the server.
        const noClientCert = yield* Consul.make({ address: double.address, tls: { ca: file("ca.pem") } })
        assert.strictEqual((yield* Effect.flip(noClientCert.list("t/"))).reason, "Unavailable")
        const noCa = yield* Consul.make({
          address: double.address,
          tls: { cert: file("client.pem"), key: file("client.key") }
        })
        const error = yield* Effect.flip(noCa.list("t/"))
        assert.strictEqual(error.reason, "Unavailable")
        assert.include(error.detail, `https://${double.address}`)
      })
    )
  })
})
