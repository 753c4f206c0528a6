/**
 * `consul://host:port/prefix` through the library (`Discovery.layer`, `join`),
 * against the in-process double of Consul's HTTP API, plus the shared
 * conformance suite. Time: heartbeats run on `TestClock`; the double's clock
 * (session expiry) is a `ManualClock`, or follows the `TestClock` in the
 * conformance suite.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Duration, Effect, Either, Fiber, Layer, Stream, TestClock } from "effect"
import * as Discovery from "../../src/Discovery.js"
import * as Entries from "../../src/Entries.js"
import * as Entry from "../../src/Entry.js"
import * as Kv from "../../src/Discovery/Kv.js"
import * as Join from "../../src/Join.js"
import { KvError } from "../../src/KvStore.js"
import { conformance } from "../support/conformance.js"
import {
  type ConsulDouble,
  consulDouble,
  effectClock,
  ManualClock,
  SwitchableClock
} from "../support/consulDouble.js"
import { freePort } from "../support/net.js"

const e = (s: string): Entry.Entry => Either.getOrThrow(Entry.parse(s))

/** A short real pause, for I/O to land. */
const tick = Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, 5)))

const until = (condition: () => boolean, what: string) =>
  Effect.gen(function* () {
    for (let i = 0; i < 600; i++) {
      if (condition()) return
      yield* tick
    }
    return yield* Effect.dieMessage(`timed out waiting for ${what}`)
  })

/** A `Discovery` built through `Discovery.layer`, living as long as the current scope. */
const connect = (url: string, options: Discovery.DiscoveryOptions = {}) =>
  Effect.map(Layer.build(Discovery.layer(url, options)), (context) => ({
    discovery: Context.get(context, Discovery.Discovery),
    context
  }))

/** The first snapshot of a fresh watch, formatted. */
const current = (discovery: Discovery.DiscoveryShape) =>
  discovery.watch.pipe(Stream.runHead, Effect.flatten, Effect.map(Entries.format))

class Shared extends Context.Tag("test/ConsulDouble")<
  Shared,
  { readonly double: ConsulDouble; readonly clock: SwitchableClock }
>() {}

let clusters = 0

conformance("consul:// (in-process double of Consul's HTTP API)", {
  clock: "test",
  // Consul's shortest session TTL is 10s, so a 30s TTL (15s sessions) keeps the double honest.
  ttl: "30 seconds",
  layer: Layer.scoped(
    Shared,
    Effect.gen(function* () {
      const clock = new SwitchableClock()
      return { double: yield* consulDouble({ clock }), clock }
    })
  ),
  cluster: Effect.gen(function* () {
    const { double, clock } = yield* Shared
    // The double's time follows this test's TestClock.
    clock.use(effectClock(yield* Effect.clock))
    const prefix = `conformance/${++clusters}`
    return (options) => Discovery.make(`consul://${double.address}/${prefix}`, options)
  })
})

describe("Discovery over consul://", () => {
  it("store errors keep the KvError as their cause: LimitExceeded stays visible, Invalid is the user's URL", () => {
    const toError = Kv.fromKvError("consul", "consul://h:8500/p")
    const limit = new KvError({ store: "consul", reason: "LimitExceeded", detail: "p/ already holds 2 keys" })
    const bad = toError(limit)
    assert.strictEqual(bad._tag, "BadResponse")
    assert.strictEqual(bad._tag === "BadResponse" && bad.cause, limit)
    const invalid = new KvError({
      store: "consul",
      reason: "Invalid",
      detail: "cannot read kv.cacertfile /x"
    })
    const url = toError(invalid)
    assert.strictEqual(url._tag, "InvalidUrl")
    assert.strictEqual(url._tag === "InvalidUrl" && url.cause, invalid)
    assert.include(url.message, "cannot read kv.cacertfile /x")
    const down = new KvError({
      store: "consul",
      reason: "Timeout",
      detail: "no answer",
      cause: new Error("x")
    })
    const unavailable = toError(down)
    assert.strictEqual(unavailable._tag === "Unavailable" && unavailable.reason, "Timeout")
    assert.strictEqual(unavailable._tag === "Unavailable" && unavailable.cause, down)
  })

  it.scoped("TLS files that cannot be read: InvalidUrl naming the option and the file", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        connect("consul://127.0.0.1:1/p", { options: { "kv.cacertfile": "/nonexistent/ca.pem" } })
      )
      assert.strictEqual(error._tag, "InvalidUrl")
      assert.include(error.message, "kv.cacertfile /nonexistent/ca.pem")
    })
  )

  it.scoped(
    "register writes Swarm's layout under the URL's prefix, the address as the value; deregister deletes it",
    () =>
      Effect.gen(function* () {
        const double = yield* consulDouble({ clock: new ManualClock() })
        const { discovery } = yield* connect(`consul://${double.address}/swarm/cluster1`, {
          ttl: "60 seconds"
        })
        yield* discovery.register(e("10.0.0.1:2375"))
        yield* discovery.register(e("[2001:db8::1]:2376"))
        assert.deepStrictEqual(double.keys(), [
          "swarm/cluster1/docker/swarm/nodes/10.0.0.1:2375",
          "swarm/cluster1/docker/swarm/nodes/[2001:db8::1]:2376"
        ])
        assert.strictEqual(
          double.get("swarm/cluster1/docker/swarm/nodes/[2001:db8::1]:2376")?.value,
          "[2001:db8::1]:2376"
        )
        // The registration is a session-held key: TTL 60s → a 30s session.
        assert.strictEqual(double.sessions()[0]?.ttlMillis, 30_000)
        yield* discovery.deregister(e("10.0.0.1:2375"))
        assert.deepStrictEqual(double.keys(), ["swarm/cluster1/docker/swarm/nodes/[2001:db8::1]:2376"])
        assert.deepStrictEqual(yield* current(discovery), ["[2001:db8::1]:2376"])
      })
  )

  it.scoped("kv.path replaces docker/swarm/nodes; without a prefix the keys start at the root", () =>
    Effect.gen(function* () {
      const double = yield* consulDouble({ clock: new ManualClock() })
      const custom = yield* connect(`consul://${double.address}/p`, {
        options: { "kv.path": "/custom/members/" }
      })
      yield* custom.discovery.register(e("10.0.0.1:2375"))
      const root = yield* connect(`consul://${double.address}`)
      yield* root.discovery.register(e("10.0.0.2:2375"))
      assert.deepStrictEqual(double.keys(), [
        "docker/swarm/nodes/10.0.0.2:2375",
        "p/custom/members/10.0.0.1:2375"
      ])
      assert.deepStrictEqual(yield* current(custom.discovery), ["10.0.0.1:2375"])
      assert.deepStrictEqual(yield* current(root.discovery), ["10.0.0.2:2375"])
    })
  )

  it.scoped(
    "entries written by Go swarm's libkv (plain keys, same layout) are listed; bad values are skipped",
    () =>
      Effect.gen(function* () {
        const double = yield* consulDouble({ clock: new ManualClock() })
        for (const [key, value] of [
          ["swarm/docker/swarm/nodes/10.0.0.9:2375", "10.0.0.9:2375"],
          ["swarm/docker/swarm/nodes/junk", "not an address"]
        ]) {
          yield* Effect.promise(() => fetch(`${double.url}/v1/kv/${key}`, { method: "PUT", body: value }))
        }
        const { discovery } = yield* connect(`consul://${double.address}/swarm`)
        assert.deepStrictEqual(yield* current(discovery), ["10.0.0.9:2375"])
      })
  )

  it.scoped(
    "join registers at once and every heartbeat, outlives its TTL while it beats, and leaves on interrupt",
    () =>
      Effect.gen(function* () {
        const clock = new ManualClock()
        const double = yield* consulDouble({ clock })
        const url = `consul://${double.address}/swarm`
        const joiner = yield* connect(url, { ttl: "30 seconds", heartbeat: "10 seconds" })
        const watcher = yield* connect(url)
        const fiber = yield* Join.join(e("10.0.0.1:2375"), { heartbeat: "10 seconds" }).pipe(
          Effect.provide(joiner.context),
          Effect.fork
        )
        yield* until(() => double.keys().length === 1, "the first registration")
        // 60s of heartbeats against a 30s TTL: each beat renews the session.
        for (let beat = 1; beat <= 6; beat++) {
          const renewals = double.count("PUT", "/v1/session/renew/")
          yield* TestClock.adjust(Duration.seconds(10))
          yield* until(() => double.count("PUT", "/v1/session/renew/") > renewals, `heartbeat ${beat}`)
          clock.advance(10_000)
          assert.deepStrictEqual(
            double.keys(),
            ["swarm/docker/swarm/nodes/10.0.0.1:2375"],
            `after heartbeat ${beat}`
          )
        }
        assert.strictEqual(double.count("PUT", "/v1/session/create"), 1)
        assert.deepStrictEqual(yield* current(watcher.discovery), ["10.0.0.1:2375"])
        yield* Fiber.interrupt(fiber)
        assert.deepStrictEqual(double.keys(), [])
        assert.deepStrictEqual(yield* current(watcher.discovery), [])
      })
  )

  it.scoped("a node that stops beating without leaving vanishes at its TTL, and a watcher sees it go", () =>
    Effect.gen(function* () {
      const clock = new ManualClock()
      const double = yield* consulDouble({ clock })
      const url = `consul://${double.address}/swarm`
      const crashed = yield* connect(url, { ttl: "40 seconds" })
      const alive = yield* connect(url, { ttl: "120 seconds" })
      yield* crashed.discovery.register(e("10.0.0.1:2375"))
      yield* alive.discovery.register(e("10.0.0.2:2375"))
      const watcher = yield* connect(url)
      const seen: Array<ReadonlyArray<string>> = []
      yield* watcher.discovery.watch.pipe(
        Stream.runForEach((entries) => Effect.sync(() => seen.push(Entries.format(entries)))),
        Effect.forkScoped
      )
      yield* until(() => seen.length === 1 && double.blocked === 1, "the first snapshot")
      assert.deepStrictEqual(seen[0], ["10.0.0.1:2375", "10.0.0.2:2375"])
      clock.advance(39_999)
      yield* tick
      assert.strictEqual(seen.length, 1)
      clock.advance(1)
      yield* until(() => seen.length === 2, "the expiry")
      assert.deepStrictEqual(seen[1], ["10.0.0.2:2375"])
    })
  )

  it.scoped(
    "Consul unreachable: a watch fails Unavailable naming the URL; join keeps trying and registers once it is up",
    () =>
      Effect.gen(function* () {
        const port = yield* Effect.promise(freePort)
        const url = `consul://127.0.0.1:${port}/swarm`
        const { discovery, context } = yield* connect(url, { ttl: "30 seconds" })
        const error = yield* Effect.flip(discovery.watch.pipe(Stream.runHead))
        assert.strictEqual(error._tag, "Unavailable")
        assert.include(error.message, url)
        assert.include(error.message, "ECONNREFUSED")
        const fiber = yield* Join.join(e("10.0.0.5:2375"), { heartbeat: "10 seconds" }).pipe(
          Effect.provide(context),
          Effect.fork
        )
        yield* TestClock.adjust(Duration.seconds(10))
        yield* tick
        assert.isNull(fiber.unsafePoll())
        const double = yield* consulDouble({ clock: new ManualClock(), port })
        for (let i = 0; i < 100 && double.keys().length === 0; i++) {
          yield* TestClock.adjust(Duration.seconds(10))
          yield* tick
        }
        assert.deepStrictEqual(double.keys(), ["swarm/docker/swarm/nodes/10.0.0.5:2375"])
        yield* Fiber.interrupt(fiber)
      })
  )
})
