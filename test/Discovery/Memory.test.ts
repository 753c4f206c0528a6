import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Option, Queue, Stream, TestClock } from "effect"
import * as Discovery from "../../src/Discovery.js"
import * as Entries from "../../src/Entries.js"
import * as Entry from "../../src/Entry.js"
import * as KvStore from "../../src/KvStore.js"
import * as MemoryStore from "../../src/KvStore/Memory.js"

let counter = 0
const fresh = () => `memory-test-${++counter}`

const TTL = Duration.seconds(30)
const a = Entry.make("10.0.0.1", 2375)
const b = Entry.make("2001:db8::1", 2375)

const watching = (discovery: Discovery.DiscoveryShape) =>
  Effect.gen(function* () {
    const out = yield* Queue.unbounded<ReadonlyArray<string>>()
    yield* Effect.forkScoped(Stream.runForEach(discovery.watch, (e) => Queue.offer(out, Entries.format(e))))
    return out
  })

const current = (discovery: Discovery.DiscoveryShape) =>
  Effect.map(Stream.runHead(discovery.watch), (head) => Entries.format(Option.getOrThrow(head)))

const settle = Effect.forEach(Array.from({ length: 20 }), () => Effect.yieldNow(), { discard: true })

describe("memory://", () => {
  it.scoped("watch sees register and deregister", () =>
    Effect.gen(function* () {
      const d = yield* Discovery.make(`memory://${fresh()}`, { ttl: TTL })
      const out = yield* watching(d)
      assert.deepStrictEqual(yield* Queue.take(out), [])
      yield* d.register(a)
      assert.deepStrictEqual(yield* Queue.take(out), ["10.0.0.1:2375"])
      yield* d.register(b)
      assert.deepStrictEqual(yield* Queue.take(out), ["10.0.0.1:2375", "[2001:db8::1]:2375"])
      yield* d.deregister(a)
      assert.deepStrictEqual(yield* Queue.take(out), ["[2001:db8::1]:2375"])
    })
  )

  it.scoped("a heartbeat re-registration emits nothing", () =>
    Effect.gen(function* () {
      const d = yield* Discovery.make(`memory://${fresh()}`, { ttl: TTL })
      const out = yield* watching(d)
      yield* Queue.take(out)
      yield* d.register(a)
      yield* Queue.take(out)
      yield* d.register(a)
      yield* settle
      assert.strictEqual(yield* Queue.size(out), 0)
    })
  )

  it.scoped("an entry vanishes from watch exactly at the TTL", () =>
    Effect.gen(function* () {
      const d = yield* Discovery.make(`memory://${fresh()}`, { ttl: TTL })
      yield* d.register(a)
      const out = yield* watching(d)
      assert.deepStrictEqual(yield* Queue.take(out), ["10.0.0.1:2375"])
      yield* TestClock.adjust(Duration.subtract(TTL, Duration.millis(1)))
      yield* settle
      assert.strictEqual(yield* Queue.size(out), 0)
      assert.deepStrictEqual(yield* current(d), ["10.0.0.1:2375"])
      yield* TestClock.adjust(Duration.millis(1))
      assert.deepStrictEqual(yield* Queue.take(out), [])
      assert.deepStrictEqual(yield* current(d), [])
    })
  )

  it.scoped("registering again before the TTL keeps the entry", () =>
    Effect.gen(function* () {
      const d = yield* Discovery.make(`memory://${fresh()}`, { ttl: TTL })
      yield* d.register(a)
      yield* TestClock.adjust(Duration.seconds(20))
      yield* d.register(a)
      yield* TestClock.adjust(Duration.seconds(20))
      assert.deepStrictEqual(yield* current(d), ["10.0.0.1:2375"])
      yield* TestClock.adjust(Duration.seconds(10))
      assert.deepStrictEqual(yield* current(d), [])
    })
  )

  it.scoped("two backends with one name do not share members: each has its own store", () =>
    Effect.gen(function* () {
      const one = yield* Discovery.make("memory://shared-name")
      const two = yield* Discovery.make("memory://shared-name")
      yield* one.register(a)
      assert.deepStrictEqual(yield* current(one), ["10.0.0.1:2375"])
      assert.deepStrictEqual(yield* current(two), [])
    })
  )

  it.scoped(
    "backends over one MemoryKvStore share it on purpose, with Swarm's key layout; kv.path moves it",
    () =>
      Effect.gen(function* () {
        const store = MemoryStore.unsafeMake()
        const over = (options: Discovery.KvStoreOptions = {}) =>
          Discovery.makeKvStore(options).pipe(Effect.provideService(KvStore.KvStore, store))
        const one = yield* over()
        const two = yield* over()
        yield* one.register(a)
        assert.deepStrictEqual(yield* current(two), ["10.0.0.1:2375"])
        assert.deepStrictEqual((yield* store.list("")).pairs, [
          { key: "docker/swarm/nodes/10.0.0.1:2375", value: "10.0.0.1:2375" }
        ])
        const moved = yield* over({ prefix: "/p/", options: { "kv.path": "/custom/path/" } })
        yield* moved.register(b)
        assert.deepStrictEqual(
          (yield* store.list("p/")).pairs.map((p) => p.key),
          ["p/custom/path/[2001:db8::1]:2375"]
        )
        assert.deepStrictEqual(yield* current(moved), ["[2001:db8::1]:2375"])
      })
  )

  it.scoped("a value that is not an address is skipped with a warning", () =>
    Effect.gen(function* () {
      const store = MemoryStore.unsafeMake()
      const d = yield* Discovery.makeKvStore().pipe(Effect.provideService(KvStore.KvStore, store))
      yield* store.put("docker/swarm/nodes/junk", "not an address")
      yield* d.register(a)
      assert.deepStrictEqual(yield* current(d), ["10.0.0.1:2375"])
    })
  )

  it.scoped("a bad name is an invalid URL", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(Discovery.make("memory://no/slashes"))
      assert.strictEqual(error._tag, "InvalidUrl")
    })
  )
})
