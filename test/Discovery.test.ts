import { assert, describe, it } from "@effect/vitest"
import {
  Chunk,
  Config,
  ConfigError,
  ConfigProvider,
  Context,
  Duration,
  Effect,
  Either,
  Exit,
  Layer,
  Option,
  Stream
} from "effect"
import * as Discovery from "../src/Discovery.js"
import * as KvStore from "../src/KvStore.js"
import * as MemoryKvStore from "../src/KvStore/Memory.js"
import * as Entries from "../src/Entries.js"
import * as Entry from "../src/Entry.js"

const list = (...inputs: Array<string>): Entries.Entries =>
  inputs.map((s) => Either.getOrThrow(Entry.parse(s)))
const show = (change: Discovery.Change) => ({
  added: Entries.format(change.added),
  removed: Entries.format(change.removed)
})

describe("Discovery.make / layer", () => {
  it.scoped("dispatches by scheme, and a bare list is nodes", () =>
    Effect.gen(function* () {
      for (const url of ["nodes://a:1,b:2", "a:1,b:2", "NODES://a:1,b:2"]) {
        const d = yield* Discovery.make(url)
        const head = yield* Stream.runHead(d.watch)
        assert.deepStrictEqual(Entries.format(Option.getOrThrow(head)), ["a:1", "b:2"], url)
      }
      const memory = yield* Discovery.make(`memory://dispatch-${process.pid}`)
      yield* memory.register(Entry.make("c", 3))
      assert.deepStrictEqual(Entries.format(Option.getOrThrow(yield* Stream.runHead(memory.watch))), ["c:3"])
    })
  )

  it.scoped("an unknown scheme fails with NotSupported", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(Discovery.make("redis://h:6379"))
      assert.strictEqual(error._tag, "NotSupported")
      assert.include(error.message, "discovery service not supported")
    })
  )

  it.effect("layer fails to build on a bad URL, with the typed error", () =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(Effect.scoped(Layer.build(Discovery.layer("ftp://x"))))
      assert.isTrue(Exit.isFailure(exit))
      const unsupported = yield* Effect.flip(Effect.scoped(Layer.build(Discovery.layer("ftp://x"))))
      assert.strictEqual(unsupported._tag, "NotSupported")
      const empty = yield* Effect.flip(Effect.scoped(Layer.build(Discovery.layer(""))))
      assert.strictEqual(empty._tag, "InvalidUrl")
    })
  )

  it.effect("the layer provides the Discovery service", () =>
    Effect.gen(function* () {
      const d = yield* Discovery.Discovery
      const error = yield* Effect.flip(d.register(Entry.make("a", 1)))
      assert.strictEqual(error._tag, "NotImplemented")
    }).pipe(Effect.provide(Discovery.layer("nodes://a:1")))
  )

  it("resolveOptions fills Swarm's defaults", () => {
    const resolved = Either.getOrThrow(Discovery.resolveOptions())
    assert.strictEqual(Duration.toMillis(resolved.heartbeat), 60_000)
    assert.strictEqual(Duration.toMillis(resolved.ttl), 180_000)
    assert.deepStrictEqual(resolved.options, {})
    const custom = Either.getOrThrow(
      Discovery.resolveOptions({ heartbeat: "5 seconds", ttl: Duration.seconds(15), options: { a: "b" } })
    )
    assert.strictEqual(Duration.toMillis(custom.heartbeat), 5_000)
    assert.strictEqual(Duration.toMillis(custom.ttl), 15_000)
    assert.deepStrictEqual(custom.options, { a: "b" })
    // A long heartbeat without a ttl gets three heartbeats, not a ttl that expires between registrations.
    const slow = Either.getOrThrow(Discovery.resolveOptions({ heartbeat: "5 minutes" }))
    assert.strictEqual(Duration.toMillis(slow.ttl), 15 * 60_000)
    // A short ttl without a heartbeat gets a third of it.
    const short = Either.getOrThrow(Discovery.resolveOptions({ ttl: "30 seconds" }))
    assert.strictEqual(Duration.toMillis(short.heartbeat), 10_000)
  })

  const refused: ReadonlyArray<readonly [string, Discovery.DiscoveryOptions, string, RegExp]> = [
    [
      "ttl equal to the heartbeat",
      { heartbeat: "10 seconds", ttl: "10 seconds" },
      "ttl",
      /greater than the heartbeat/
    ],
    [
      "ttl below the heartbeat",
      { heartbeat: "10 seconds", ttl: "5 seconds" },
      "ttl",
      /greater than the heartbeat/
    ],
    ["a negative ttl", { ttl: Duration.millis(-1) }, "ttl", /positive/],
    ["a zero heartbeat", { heartbeat: 0 }, "heartbeat", /positive/],
    ["an infinite heartbeat", { heartbeat: Duration.infinity }, "heartbeat", /positive, finite/],
    [
      "a duration that does not parse",
      { ttl: "soon" as Duration.DurationInput },
      "ttl",
      /expected a duration/
    ]
  ]
  for (const [name, options, option, reason] of refused) {
    it.effect(`layer and make refuse ${name} with InvalidOption`, () =>
      Effect.gen(function* () {
        const error = yield* Effect.flip(Effect.scoped(Discovery.make("memory://x", options)))
        assert.strictEqual(error._tag, "InvalidOption")
        if (error._tag !== "InvalidOption") return
        assert.strictEqual(error.option, option)
        assert.match(error.message, reason)
        const fromLayer = yield* Effect.flip(
          Effect.scoped(Layer.build(Discovery.layer("memory://x", options)))
        )
        assert.strictEqual(fromLayer._tag, "InvalidOption")
      })
    )
  }

  it.scoped("the service exposes the options it was built with", () =>
    Effect.gen(function* () {
      const d = yield* Discovery.make("memory://x", { heartbeat: "10 seconds", ttl: "30 seconds" })
      assert.strictEqual(Duration.toMillis(d.options!.heartbeat), 10_000)
      assert.strictEqual(Duration.toMillis(d.options!.ttl), 30_000)
    })
  )

  for (const url of [
    "memory://x",
    "nodes://a:1",
    "token://http://127.0.0.1:9/v1/0123456789abcdef0123456789abcdef"
  ]) {
    it.scoped(`${url.split(":")[0]}: register and deregister refuse an invalid entry before any I/O`, () =>
      Effect.gen(function* () {
        const d = yield* Discovery.make(url)
        for (const entry of [Entry.make("", 0), Entry.make("999.999.999.999", 1), Entry.make("a", 70000)]) {
          const registered = yield* Effect.flip(d.register(entry))
          assert.strictEqual(registered._tag, "InvalidEntry", Entry.format(entry))
          const deregistered = yield* Effect.flip(d.deregister(entry))
          assert.strictEqual(deregistered._tag, "InvalidEntry", Entry.format(entry))
        }
      })
    )
  }

  it.scoped("each memory:// backend has its own store, even under the same name", () =>
    Effect.gen(function* () {
      const a = yield* Discovery.make("memory://same")
      const b = yield* Discovery.make("memory://same")
      yield* a.register(Entry.make("a", 1))
      assert.deepStrictEqual(Entries.format(Option.getOrThrow(yield* Stream.runHead(a.watch))), ["a:1"])
      assert.deepStrictEqual(Entries.format(Option.getOrThrow(yield* Stream.runHead(b.watch))), [])
    })
  )

  it.effect("layerKvStore: two layers over one MemoryKvStore share it, on purpose", () =>
    Effect.gen(function* () {
      const store = yield* Effect.provide(KvStore.KvStore, MemoryKvStore.layer)
      const over = Discovery.layerKvStore({ ttl: "30 seconds", heartbeat: "10 seconds" }).pipe(
        Layer.provide(Layer.succeed(KvStore.KvStore, store))
      )
      yield* Effect.provide(
        Effect.flatMap(Discovery.Discovery, (d) => d.register(Entry.make("a", 1))),
        over
      )
      const seen = yield* Effect.provide(
        Effect.flatMap(Discovery.Discovery, (d) => Stream.runHead(d.watch)),
        over
      )
      assert.deepStrictEqual(Entries.format(Option.getOrThrow(seen)), ["a:1"])
      // The same key layout as the kv backends: <prefix>/<kv.path>/<host:port>.
      const pairs = yield* store.list("")
      assert.strictEqual(pairs.pairs.length, 1)
      assert.isTrue(pairs.pairs[0]!.key.endsWith("/a:1"))
    })
  )

  it.scoped("layerConfig reads the URL and durations from Config", () =>
    Effect.gen(function* () {
      const config = {
        url: Config.string("SWARM_DISCOVERY"),
        heartbeat: Config.duration("HEARTBEAT"),
        ttl: Config.duration("TTL")
      }
      const provider = ConfigProvider.fromMap(
        new Map([
          ["SWARM_DISCOVERY", "nodes://a:1,b:2"],
          ["HEARTBEAT", "5 seconds"],
          ["TTL", "20 seconds"]
        ])
      )
      const context = yield* Layer.build(
        Discovery.layerConfig(config).pipe(Layer.provide(Layer.setConfigProvider(provider)))
      )
      const d = Context.get(context, Discovery.Discovery)
      assert.deepStrictEqual(Entries.format(Option.getOrThrow(yield* Stream.runHead(d.watch))), [
        "a:1",
        "b:2"
      ])
      assert.strictEqual(Duration.toMillis(d.options!.heartbeat), 5_000)
      assert.strictEqual(Duration.toMillis(d.options!.ttl), 20_000)
      // A missing variable is a ConfigError, a bad URL the usual typed error.
      const missing = yield* Effect.flip(
        Layer.build(
          Discovery.layerConfig(config).pipe(
            Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map())))
          )
        )
      )
      assert.isTrue(ConfigError.isConfigError(missing))
      const bad = yield* Effect.flip(Layer.build(Discovery.layerConfig({ url: Config.succeed("ftp://x") })))
      assert.strictEqual(bad._tag, "NotSupported")
    })
  )
})

describe("Discovery.changes", () => {
  it.effect("turns snapshots into added/removed events; the first adds the initial members", () =>
    Effect.gen(function* () {
      const snapshots = Stream.make(
        list("a:1", "b:2"),
        list("b:2", "a:1"),
        list("a:1", "c:3"),
        list("a:1", "c:3", "c:3"),
        list()
      )
      const events = yield* Stream.runCollect(Discovery.changes(snapshots))
      assert.deepStrictEqual(Chunk.toReadonlyArray(events).map(show), [
        { added: ["a:1", "b:2"], removed: [] },
        { added: ["c:3"], removed: ["b:2"] },
        { added: [], removed: ["a:1", "c:3"] }
      ])
    })
  )

  it.effect("an empty first snapshot gives no event", () =>
    Effect.gen(function* () {
      const events = yield* Stream.runCollect(Discovery.changes(Stream.make(list(), list(), list("a:1"))))
      assert.deepStrictEqual(Chunk.toReadonlyArray(events).map(show), [{ added: ["a:1"], removed: [] }])
    })
  )

  it.effect("errors pass through", () =>
    Effect.gen(function* () {
      const failing = Stream.concat(Stream.make(list("a:1")), Stream.fail("boom" as const))
      const error = yield* Effect.flip(Stream.runCollect(Discovery.changes(failing)))
      assert.strictEqual(error, "boom")
    })
  )
})

describe("Discovery.distinctEntries", () => {
  it.effect("drops repeats of the same set, in any order", () =>
    Effect.gen(function* () {
      const out = yield* Stream.runCollect(
        Discovery.distinctEntries(
          Stream.make(list("a:1", "b:2"), list("b:2", "a:1"), list("a:1"), list("a:1"))
        )
      )
      assert.deepStrictEqual(Chunk.toReadonlyArray(out).map(Entries.format), [["a:1", "b:2"], ["a:1"]])
    })
  )
})
