/**
 * The ZooKeeper KvStore against a real ZooKeeper (started here on a free
 * loopback port, tickTime 500ms so sessions may be 1s..10s). Real time:
 * sessions are ZooKeeper's, so waits are real but short.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { createRequire } from "node:module"
import { Duration, Effect, Either, Logger, LogLevel, Queue, Stream } from "effect"
import type { KvSnapshot, KvStoreShape } from "../../src/KvStore.js"
import * as Zookeeper from "../../src/KvStore/Zookeeper.js"
import { keyToPath, prefixToDirectory } from "../../src/internal/zookeeper/paths.js"
import { refusedPort } from "../support/net.js"
import { tcpProxy } from "../support/kv-server.js"
import { subjectOf, testStore } from "../support/KvStoreSuite.js"
import { startZookeeper, type ZookeeperServer, zookeeperAvailable } from "../support/zookeeper.js"

const available = zookeeperAvailable()

// node-zookeeper-client ships no types; the raw client here only checks what the store wrote.
const zk = createRequire(import.meta.url)("node-zookeeper-client")

let server: ZookeeperServer
let run = 0
const fresh = () => `t${process.pid}-${++run}/`

const store = (config: Partial<Zookeeper.ZookeeperConfig> = {}) =>
  Zookeeper.make({ hosts: [server.endpoint], sessionTimeout: "3 seconds", timeout: "5 seconds", ...config })

interface Raw {
  readonly stat: (path: string) => Promise<{ ephemeralOwner: Buffer } | null>
  readonly create: (path: string, data: string, ephemeral: boolean) => Promise<void>
  readonly setData: (path: string, data: string) => Promise<void>
  readonly remove: (path: string) => Promise<void>
  readonly sessionId: () => Buffer
  readonly close: () => void
}

/** A raw client on the same server, scoped. */
const raw = (endpoint = server.endpoint) =>
  Effect.acquireRelease(
    Effect.async<Raw>((resume) => {
      const c = zk.createClient(endpoint, { sessionTimeout: 3000 })
      const cb = (ok: (v?: any) => void, ko: (e: unknown) => void) => (e: unknown, v?: unknown) =>
        e ? ko(e) : ok(v)
      c.once("connected", () =>
        resume(
          Effect.succeed({
            stat: (path) => new Promise((ok, ko) => c.exists(path, cb(ok, ko))),
            create: (path, data, ephemeral) =>
              new Promise((ok, ko) =>
                c.create(
                  path,
                  Buffer.from(data),
                  ephemeral ? zk.CreateMode.EPHEMERAL : zk.CreateMode.PERSISTENT,
                  cb(ok, ko)
                )
              ),
            setData: (path, data) =>
              new Promise((ok, ko) => c.setData(path, Buffer.from(data), -1, cb(ok, ko))),
            remove: (path) => new Promise((ok, ko) => c.remove(path, -1, cb(ok, ko))),
            sessionId: () => c.getSessionId(),
            close: () => c.close()
          })
        )
      )
      c.connect()
    }),
    (r) => Effect.sync(() => r.close())
  )

const isEphemeral = (stat: { ephemeralOwner: Buffer } | null) =>
  stat !== null && !stat.ephemeralOwner.equals(Buffer.alloc(8))

const watching = (kv: KvStoreShape, prefix: string) =>
  Effect.gen(function* () {
    const queue = yield* Queue.unbounded<KvSnapshot>()
    const seen: Array<KvSnapshot> = []
    yield* kv.watch(prefix).pipe(
      Stream.runForEach((s) => Queue.offer(queue, s)),
      Effect.forkScoped
    )
    const until = (predicate: (s: KvSnapshot) => boolean, what: string, limit = Duration.seconds(15)) =>
      Effect.gen(function* () {
        for (;;) {
          const last = seen[seen.length - 1]
          if (last !== undefined && predicate(last)) return last
          seen.push(yield* Queue.take(queue))
        }
      }).pipe(
        Effect.timeoutFail({
          duration: limit,
          onTimeout: () => new Error(`timed out waiting for ${what}; saw ${JSON.stringify(seen.map(keysOf))}`)
        })
      )
    return { until, seen }
  })

const keysOf = (s: KvSnapshot) => s.pairs.map((p) => p.key)
const hasKeys =
  (...keys: ReadonlyArray<string>) =>
  (s: KvSnapshot) =>
    JSON.stringify(keysOf(s)) === JSON.stringify([...keys].sort())

const promise = <A>(f: () => Promise<A>) => Effect.promise(f)

describe("KvStore/Zookeeper paths", () => {
  it("keyToPath and prefixToDirectory", () => {
    assert.strictEqual(keyToPath("a/b/c"), "/a/b/c")
    assert.strictEqual(keyToPath("/a/[::1]:80"), "/a/[::1]:80")
    assert.isUndefined(keyToPath("a//b"))
    assert.isUndefined(keyToPath("a/b/"))
    assert.isUndefined(keyToPath("a/../b"))
    assert.deepStrictEqual(prefixToDirectory("a/b/"), { dir: "/a/b", name: "" })
    assert.deepStrictEqual(prefixToDirectory("a/b/x"), { dir: "/a/b", name: "x" })
    assert.deepStrictEqual(prefixToDirectory("top"), { dir: "/", name: "top" })
    assert.isUndefined(prefixToDirectory("a//b/"))
  })
})

describe.skipIf(!available)("KvStore/Zookeeper (real ZooKeeper)", () => {
  beforeAll(async () => {
    server = await startZookeeper({ tickTime: 500 })
  })
  afterAll(async () => {
    await server?.dispose()
  })

  describe("the KvStore suite", () => {
    // Entries with a TTL are ephemeral; the store itself removes one not put again within its TTL.
    testStore({
      clock: "live",
      make: subjectOf(Effect.suspend(() => store({ sessionTimeout: "10 seconds" }))),
      ttl: "2 seconds",
      expiry: { earliest: "1900 millis", latest: "3500 millis" },
      depth: "children",
      fresh: false,
      skip: { expiries: "ZooKeeper keeps no per-key TTL to tell" }
    })
  })

  it.scopedLive("stats: keys are znodes with data, clusters the top-level znodes with keys below", () =>
    Effect.gen(function* () {
      const kv = yield* store()
      // The server is shared by this file's tests: count what this test adds.
      const before = yield* kv.stats
      const p = fresh()
      const keys = [`${p}a`, `${p}b`, `${p}deep/c`]
      for (const [i, k] of keys.entries())
        yield* kv.put(k, String(i), i === 1 ? { ttl: "10 seconds" } : undefined)
      const loose = `loose-${process.pid}-${run}`
      yield* kv.put(loose, "x")
      assert.deepStrictEqual(yield* kv.stats, {
        entries: before.entries + keys.length + 1,
        clusters: before.clusters + 1
      })
      yield* kv.deletePrefix(p)
      yield* kv.delete(loose)
      assert.deepStrictEqual(yield* kv.stats, before, "an emptied directory is not a key")
    })
  )

  it.scopedLive("a key that is not a valid znode path is Invalid", () =>
    Effect.gen(function* () {
      const kv = yield* store()
      const bad = yield* Effect.flip(kv.put("a//b", "x"))
      assert.strictEqual(bad.reason, "Invalid")
      assert.include(bad.detail, "a//b")
    })
  )

  it.scopedLive("a put with a TTL is ephemeral in the store's session; without, persistent", () =>
    Effect.gen(function* () {
      const p = fresh()
      const r = yield* raw()
      yield* Effect.scoped(
        Effect.gen(function* () {
          const kv = yield* store()
          yield* kv.put(`${p}eph`, "e", { ttl: "3 seconds" })
          yield* kv.put(`${p}per`, "p")
          assert.isTrue(isEphemeral(yield* promise(() => r.stat(`/${p}eph`))))
          assert.isFalse(isEphemeral(yield* promise(() => r.stat(`/${p}per`))))
          assert.isFalse(
            isEphemeral(yield* promise(() => r.stat(`/${p.slice(0, -1)}`))),
            "parents are persistent"
          )
        })
      )
      // The store closed its session: the ephemeral node went with it, the persistent one stayed.
      assert.isNull(yield* promise(() => r.stat(`/${p}eph`)))
      assert.isNotNull(yield* promise(() => r.stat(`/${p}per`)))
    })
  )

  it.scopedLive(
    "closing the store waits for ZooKeeper to close the session: its ephemeral nodes are gone",
    () =>
      Effect.gen(function* () {
        const r = yield* raw()
        // The close used to be only queued: a reader right after it still saw the node about one time in four.
        let lingering = 0
        for (let n = 0; n < 20; n++) {
          const p = fresh()
          yield* Effect.scoped(Effect.flatMap(store(), (kv) => kv.put(`${p}eph`, "e", { ttl: "3 seconds" })))
          if ((yield* promise(() => r.stat(`/${p}eph`))) !== null) lingering++
        }
        assert.strictEqual(lingering, 0)
      })
  )

  it.scopedLive("a TTL put over another session's ephemeral node takes it over", () =>
    Effect.gen(function* () {
      const p = fresh()
      const kv = yield* store()
      yield* Effect.scoped(
        Effect.gen(function* () {
          const other = yield* raw()
          yield* kv.put(`${p}parent-made`, "x") // make the parent
          yield* promise(() => other.create(`/${p}n`, "old", true))
          assert.strictEqual(yield* kv.put(`${p}n`, "new", { ttl: "3 seconds" }), "updated")
        })
      )
      // The other session is closed; our node stays, with our value.
      assert.deepStrictEqual((yield* kv.list(p)).pairs, [
        { key: `${p}n`, value: "new" },
        { key: `${p}parent-made`, value: "x" }
      ])
    })
  )

  it.scopedLive("watch: missing directory, then creations, data changes, deletions, directory removal", () =>
    Effect.gen(function* () {
      const kv = yield* store()
      const p = fresh()
      const w = yield* watching(kv, p)
      const first = yield* w.until(() => true, "the first snapshot")
      assert.deepStrictEqual(first.pairs, [])
      const r = yield* raw()
      yield* kv.put(`${p}a`, "1", { ttl: "3 seconds" })
      yield* w.until(hasKeys(`${p}a`), "a")
      yield* promise(() => r.create(`/${p}b`, "from-raw", false))
      yield* w.until(hasKeys(`${p}a`, `${p}b`), "b from another client")
      yield* promise(() => r.setData(`/${p}b`, "changed"))
      yield* w.until((s) => s.pairs.some((x) => x.value === "changed"), "b's new value")
      yield* kv.delete(`${p}a`)
      yield* w.until(hasKeys(`${p}b`), "a deleted")
      yield* kv.deletePrefix(p)
      yield* promise(() => r.remove(`/${p.slice(0, -1)}`))
      yield* w.until(hasKeys(), "the directory removed")
      yield* kv.put(`${p}c`, "3")
      yield* w.until(hasKeys(`${p}c`), "c in the re-created directory")
      for (let i = 1; i < w.seen.length; i++) assert.isAbove(w.seen[i]!.index, w.seen[i - 1]!.index)
    })
  )

  it.scopedLive("ZooKeeper stopped and started: no crash, the watch converges, the session survives", () =>
    Effect.gen(function* () {
      // The default bound: once the server serves again, a stuck handshake is retried within it.
      const kv = yield* store()
      const other = yield* store()
      const p = fresh()
      yield* kv.put(`${p}a`, "1", { ttl: "3 seconds" })
      const w = yield* watching(other, p)
      yield* w.until(hasKeys(`${p}a`), "a")
      yield* promise(() => server.stop())
      const down = yield* Effect.either(
        Zookeeper.make({ hosts: [server.endpoint], sessionTimeout: "2 seconds", timeout: "1 second" }).pipe(
          Effect.flatMap((s) => s.list(p))
        )
      )
      assert.isTrue(Either.isLeft(down))
      yield* promise(() => server.start())
      yield* kv.put(`${p}b`, "2", { ttl: "3 seconds" })
      yield* w.until(hasKeys(`${p}a`, `${p}b`), "b after the restart")
      yield* promise(() => server.kill())
      yield* Effect.sleep("500 millis")
      yield* promise(() => server.start())
      yield* kv.delete(`${p}a`)
      yield* w.until(hasKeys(`${p}b`), "a deleted after a kill -9 and start")
    })
  )

  it.scopedLive(
    "after its session expires, the store re-creates its ephemeral nodes and watches re-arm",
    () =>
      Effect.gen(function* () {
        const proxy = yield* Effect.acquireRelease(
          promise(() => tcpProxy(server.port)),
          (p) => promise(() => p.close())
        )
        const p = fresh()
        // The store's session runs through the proxy; the watcher's does not.
        const kv = yield* store({ hosts: [proxy.endpoint], sessionTimeout: "2 seconds" })
        const observer = yield* store()
        // A TTL longer than the outage (joiners heartbeat well within theirs); the session times out after 2s.
        yield* kv.put(`${p}mine`, "m", { ttl: "60 seconds" })
        yield* kv.put(`${p}kept`, "k")
        const w = yield* watching(observer, p)
        yield* w.until(hasKeys(`${p}kept`, `${p}mine`), "both")
        const ownWatch = yield* watching(kv, p)
        yield* ownWatch.until(hasKeys(`${p}kept`, `${p}mine`), "both, seen by the store itself")
        proxy.cut()
        // ZooKeeper expires the cut-off session and drops its ephemeral node.
        yield* w.until(hasKeys(`${p}kept`), "mine to expire with the session", Duration.seconds(10))
        proxy.heal()
        // The store notices the expiry on reconnecting, opens a new session and puts `mine` back.
        yield* w.until(hasKeys(`${p}kept`, `${p}mine`), "mine re-created", Duration.seconds(15))
        // Its own watch re-armed on the new session too.
        yield* observer.put(`${p}late`, "l")
        yield* ownWatch.until(
          hasKeys(`${p}kept`, `${p}late`, `${p}mine`),
          "late, seen through the new session"
        )
      })
  )

  it.scopedLive("an unreachable server: list fails with Unavailable naming it, within the timeout", () =>
    Effect.gen(function* () {
      const port = yield* promise(() => refusedPort())
      const kv = yield* Zookeeper.make({
        hosts: [`127.0.0.1:${port}`],
        sessionTimeout: "3 seconds",
        timeout: "1 second"
      })
      const started = Date.now()
      const result = yield* Effect.either(kv.list("x/"))
      assert.isTrue(Either.isLeft(result))
      if (Either.isLeft(result)) {
        assert.strictEqual(result.left.reason, "Unavailable")
        assert.include(result.left.detail, `127.0.0.1:${port}`)
      }
      assert.isBelow(Date.now() - started, 3000)
    })
  )

  it.scopedLive(
    "the negotiated session timeout is news only where a TTL'd put happens, not for list or watch",
    () =>
      Effect.gen(function* () {
        const lines: Array<string> = []
        const capture = Logger.replace(
          Logger.defaultLogger,
          Logger.make(({ logLevel, message }) => {
            if (LogLevel.greaterThanEqual(logLevel, LogLevel.Info)) lines.push(String(message))
          })
        )
        const noted = () => lines.filter((l) => l.includes("negotiated a session timeout")).length
        const p = fresh()
        yield* Effect.gen(function* () {
          // The server clamps 30s to 20 ticks of 500ms: 10s, far from what was asked.
          const kv = yield* store({ sessionTimeout: "30 seconds" })
          yield* kv.list(p)
          yield* kv.watch(p).pipe(Stream.take(1), Stream.runDrain)
          yield* kv.put(`${p}plain`, "v")
          assert.strictEqual(noted(), 0, lines.join("\n"))
          yield* kv.put(`${p}ttl`, "v", { ttl: "30 seconds" })
          yield* kv.put(`${p}ttl`, "v", { ttl: "30 seconds" })
        }).pipe(Effect.provide(capture))
        yield* Effect.sleep("50 millis") // the note is logged by a background fiber
        assert.strictEqual(noted(), 1, lines.join("\n"))
        assert.include(
          lines.find((l) => l.includes("negotiated"))!,
          "10000ms (asked 30000ms)"
        )
      })
  )

  it.scopedLive("TLS options are refused with a clear message", () =>
    Effect.gen(function* () {
      const result = yield* Effect.either(store({ tls: { ca: "/x/ca.pem" } }))
      assert.isTrue(Either.isLeft(result))
      if (Either.isLeft(result)) {
        assert.strictEqual(result.left.reason, "Invalid")
        assert.include(result.left.detail, "TLS")
      }
    })
  )
})
