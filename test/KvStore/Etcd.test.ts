/**
 * The etcd v3 KvStore against a real etcd (started here on free loopback
 * ports). Real time: TTLs and restarts are etcd's, so waits are real but short.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { createServer, type Server } from "node:net"
import { Chunk, Duration, Effect, Either, Fiber, Queue, Stream } from "effect"
import type { KvSnapshot, KvStoreShape } from "../../src/KvStore.js"
import * as Etcd from "../../src/KvStore/Etcd.js"
import { endpointUrl, prefixEnd } from "../../src/internal/etcd/connection.js"
import * as DiscoveryServer from "../../src/Server/Server.js"
import { type EtcdServer, type EtcdTls, etcdAvailable, makeEtcdTls, startEtcd } from "../support/etcd.js"
import { refusedPort } from "../support/net.js"
import { gates } from "../support/gate.js"
import { removeDir, tempDir } from "../support/kv-server.js"
import { subjectOf, testStore } from "../support/KvStoreSuite.js"

const available = etcdAvailable()

let server: EtcdServer
let run = 0
/** A fresh key space per test, so tests do not see each other. */
const fresh = () => `t${process.pid}-${++run}/`

const store = (config: Partial<Etcd.EtcdConfig> = {}) =>
  Etcd.make({ endpoints: [server.endpoint], timeout: "3 seconds", ...config })

/** Collects a watch into a queue; `until` waits for a snapshot that satisfies a predicate. */
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

describe.skipIf(!available)("KvStore/Etcd (real etcd)", () => {
  beforeAll(async () => {
    server = await startEtcd()
  })
  afterAll(async () => {
    await server?.dispose()
  })

  /** The lease a key carries, as etcd tells it. Lease IDs are 64-bit: read them from the JSON text. */
  const leaseOf = (key: string) =>
    Effect.promise(() => server.etcdctl("get", key, "-w", "json")).pipe(
      Effect.map((json) => BigInt(/"lease":(\d+)/.exec(json)?.[1] ?? "0"))
    )
  const countLeases = Effect.promise(() => server.etcdctl("lease", "list")).pipe(
    Effect.map((text) => (text.match(/^[0-9a-f]+$/gm) ?? []).length)
  )

  it.scopedLive(
    "one lease per key: a refresh keeps it alive and writes nothing; a TTL change replaces it",
    () =>
      Effect.gen(function* () {
        const kv = yield* store()
        const p = fresh()
        const leasesBefore = yield* countLeases
        yield* kv.put(`${p}ttl`, "v", { ttl: "30 seconds" })
        const lease = yield* leaseOf(`${p}ttl`)
        assert.isTrue(lease > 0n, "the key carries a lease")
        const ttl = yield* Effect.promise(() => server.etcdctl("lease", "timetolive", lease.toString(16)))
        assert.match(ttl, /granted with TTL\(30s\)/)
        // Five refreshes: the same lease, no new one, and no write (etcd's revision does not move).
        const revision = (yield* kv.list(p)).index
        for (let i = 0; i < 5; i++)
          assert.strictEqual(yield* kv.put(`${p}ttl`, "v", { ttl: "30 seconds" }), "updated")
        assert.strictEqual((yield* kv.list(p)).index, revision)
        assert.strictEqual(yield* leaseOf(`${p}ttl`), lease)
        assert.strictEqual(yield* countLeases, leasesBefore + 1)
        // A new value is one write, on the same lease.
        yield* kv.put(`${p}ttl`, "v2", { ttl: "30 seconds" })
        assert.strictEqual((yield* kv.list(p)).index, revision + 1)
        assert.strictEqual(yield* leaseOf(`${p}ttl`), lease)
        // Another TTL: another lease, and the old one is revoked.
        yield* kv.put(`${p}ttl`, "v2", { ttl: "40 seconds" })
        const longer = yield* leaseOf(`${p}ttl`)
        assert.notStrictEqual(longer, lease)
        yield* Effect.sleep("300 millis") // revokes run in the background
        assert.strictEqual(yield* countLeases, leasesBefore + 1)
        // A put without TTL detaches the key from its lease.
        yield* kv.put(`${p}ttl`, "v3")
        assert.strictEqual(yield* leaseOf(`${p}ttl`), 0n)
        assert.deepStrictEqual((yield* kv.list(p)).pairs, [{ key: `${p}ttl`, value: "v3" }])
      })
  )

  it.scopedLive(
    "two stores (an HA pair) sharing a key: a refresh through either keeps its one lease alive and writes nothing",
    () =>
      Effect.gen(function* () {
        const a = yield* store()
        const b = yield* store()
        const p = fresh()
        const leasesBefore = yield* countLeases
        assert.strictEqual(yield* a.put(`${p}k`, "v", { ttl: "30 seconds" }), "created")
        const lease = yield* leaseOf(`${p}k`)
        const revision = (yield* a.list(p)).index
        // Heartbeats alternating between the instances, as behind a round-robin balancer.
        for (let i = 0; i < 3; i++) {
          assert.strictEqual(yield* b.put(`${p}k`, "v", { ttl: "30 seconds" }), "updated")
          assert.strictEqual(yield* a.put(`${p}k`, "v", { ttl: "30 seconds" }), "updated")
        }
        assert.strictEqual(yield* leaseOf(`${p}k`), lease, "the key stays on its first lease")
        assert.strictEqual((yield* a.list(p)).index, revision, "no write: etcd's revision did not move")
        yield* Effect.sleep("300 millis") // B's unneeded lease is revoked in the background
        assert.strictEqual(yield* countLeases, leasesBefore + 1, "one lease for the key, none left over")
        // B keeps that lease alive on its own: A's lease is B's.
        yield* Effect.sleep("2 seconds")
        const refreshed = Date.now()
        yield* b.put(`${p}k`, "v", { ttl: "30 seconds" })
        const ttl = yield* Effect.promise(() => server.etcdctl("lease", "timetolive", lease.toString(16)))
        const left = Number(/granted with TTL\(30s\), remaining\((\d+)s\)/.exec(ttl)?.[1])
        assert.isAtLeast(left, 30 - Math.ceil((Date.now() - refreshed) / 1000), ttl)
        // Another TTL through B: B's own lease; A's refresh with that TTL then keeps B's.
        yield* b.put(`${p}k`, "v", { ttl: "40 seconds" })
        const longer = yield* leaseOf(`${p}k`)
        assert.notStrictEqual(longer, lease)
        const moved = (yield* a.list(p)).index
        assert.strictEqual(yield* a.put(`${p}k`, "v", { ttl: "40 seconds" }), "updated")
        assert.strictEqual(yield* leaseOf(`${p}k`), longer)
        assert.strictEqual((yield* a.list(p)).index, moved)
        // Deleted through B, refreshed through A: created again.
        assert.isTrue(yield* b.delete(`${p}k`))
        assert.strictEqual(yield* a.put(`${p}k`, "v", { ttl: "40 seconds" }), "created")
        assert.deepStrictEqual((yield* b.list(p)).pairs, [{ key: `${p}k`, value: "v" }])
      })
  )

  it.scopedLive("config.prefix namespaces every key, as etcdctl shows", () =>
    Effect.gen(function* () {
      const ns = `ns${process.pid}-${++run}`
      const kv = yield* store({ prefix: `/${ns}/` })
      yield* kv.put("tok/10.0.0.1:2375", "10.0.0.1:2375")
      const raw = yield* Effect.promise(() => server.etcdctl("get", "--prefix", `${ns}/`, "--keys-only"))
      // Beside the entry, the store's own record of its lease mode (internal/etcd/leaseModeRecord.ts).
      assert.deepStrictEqual(
        raw.split("\n").filter((l) => l !== ""),
        [`${ns}/\u0000lease-mode`, `${ns}/tok/10.0.0.1:2375`]
      )
      assert.deepStrictEqual((yield* kv.list("tok/")).pairs, [
        { key: "tok/10.0.0.1:2375", value: "10.0.0.1:2375" }
      ])
      const other = yield* store()
      assert.deepStrictEqual((yield* other.list("tok/")).pairs, [])
    })
  )

  it.scopedLive("watch: a change made by another etcd client (etcdctl) is seen, with its value", () =>
    Effect.gen(function* () {
      const kv = yield* store()
      const p = fresh()
      yield* kv.put(`${p}a`, "1")
      const w = yield* watching(kv, p)
      const first = yield* w.until(() => true, "the first snapshot")
      yield* Effect.promise(() => server.etcdctl("put", `${p}b`, "from-etcdctl"))
      const second = yield* w.until(hasKeys(`${p}a`, `${p}b`), "b from outside")
      assert.deepStrictEqual(second.pairs[1], { key: `${p}b`, value: "from-etcdctl" })
      assert.isAbove(second.index, first.index)
    })
  )

  it.scopedLive("watch resumes after etcd restarts: no change missed, none repeated, no crash", () =>
    Effect.gen(function* () {
      const kv = yield* store()
      const p = fresh()
      yield* kv.put(`${p}a`, "1")
      const w = yield* watching(kv, p)
      yield* w.until(hasKeys(`${p}a`), "a")
      yield* Effect.promise(() => server.kill())
      const down = yield* Effect.either(kv.list(p))
      assert.isTrue(Either.isLeft(down), "list fails while etcd is down")
      if (Either.isLeft(down)) assert.include(down.left.detail, server.endpoint)
      yield* Effect.promise(() => server.start())
      // Changes made right after the restart, possibly before the watch is back, must all arrive.
      yield* Effect.promise(() => server.etcdctl("put", `${p}b`, "2"))
      yield* Effect.promise(() => server.etcdctl("put", `${p}c`, "3"))
      yield* Effect.promise(() => server.etcdctl("del", `${p}a`))
      const converged = yield* w.until(hasKeys(`${p}b`, `${p}c`), "b and c, without a")
      assert.deepStrictEqual(converged.pairs, (yield* kv.list(p)).pairs)
      for (let i = 1; i < w.seen.length; i++) assert.isAbove(w.seen[i]!.index, w.seen[i - 1]!.index)
      // A second restart under the same watch.
      yield* Effect.promise(() => server.restart())
      yield* kv.put(`${p}d`, "4")
      yield* w.until(hasKeys(`${p}b`, `${p}c`, `${p}d`), "d after the second restart")
    })
  )

  it.scopedLive("watch converges when etcd compacted past its revision during an outage", () =>
    Effect.gen(function* () {
      const kv = yield* store()
      const p = fresh()
      yield* kv.put(`${p}a`, "1")
      const w = yield* watching(kv, p)
      yield* w.until(hasKeys(`${p}a`), "a")
      yield* Effect.promise(() => server.kill())
      yield* Effect.sleep("1 second") // let the watch back off
      yield* Effect.promise(() => server.start())
      yield* Effect.promise(() => server.etcdctl("del", `${p}a`))
      yield* Effect.promise(() => server.etcdctl("put", `${p}z`, "26"))
      const status = JSON.parse(
        yield* Effect.promise(() => server.etcdctl("endpoint", "status", "-w", "json"))
      )
      const revision = status[0].Status.header.revision as number
      yield* Effect.promise(() => server.etcdctl("compact", String(revision)))
      yield* w.until(hasKeys(`${p}z`), "z only")
    })
  )

  it.scopedLive("watch converges when etcd comes back empty (data dir lost, revision back to 1)", () =>
    Effect.gen(function* () {
      const kv = yield* store()
      const p = fresh()
      for (let i = 0; i < 5; i++) yield* kv.put(`${p}old${i}`, "x")
      const w = yield* watching(kv, p)
      yield* w.until((s) => s.pairs.length === 5, "five keys")
      yield* Effect.promise(() => server.kill())
      removeDir(server.dataDir)
      yield* Effect.promise(() => server.start())
      yield* Effect.promise(() => server.etcdctl("put", `${p}new`, "1"))
      const last = yield* w.until(hasKeys(`${p}new`), "only the key written after the rebuild")
      assert.isAbove(last.index, w.seen[0]!.index, "the index still grows")
    })
  )

  it.scopedLive("an unreachable endpoint fails fast with Unavailable naming it", () =>
    Effect.gen(function* () {
      const port = yield* Effect.promise(() => refusedPort())
      const kv = yield* Etcd.make({ endpoints: [`127.0.0.1:${port}`], timeout: "5 seconds" })
      const started = Date.now()
      const result = yield* Effect.either(kv.list("x/"))
      assert.isTrue(Either.isLeft(result))
      if (Either.isLeft(result)) {
        assert.strictEqual(result.left.reason, "Unavailable")
        assert.include(result.left.detail, `127.0.0.1:${port}`)
      }
      assert.isBelow(Date.now() - started, 5000)
      const watched = yield* Effect.either(Stream.runHead(kv.watch("x/")))
      assert.isTrue(Either.isLeft(watched), "a watch fails when etcd is not there at the start")
    })
  )

  it.scopedLive("a silent endpoint (accepts, never answers) fails with Timeout within the bound", () =>
    Effect.gen(function* () {
      const silent: Server = createServer(() => {})
      const port = yield* Effect.acquireRelease(
        Effect.async<number>((resume) => {
          silent.listen(0, "127.0.0.1", () =>
            resume(Effect.succeed((silent.address() as { port: number }).port))
          )
        }),
        () => Effect.sync(() => silent.close())
      )
      const kv = yield* Etcd.make({ endpoints: [`127.0.0.1:${port}`], timeout: "1 second" })
      const started = Date.now()
      const result = yield* Effect.either(kv.put("x/y", "z", { ttl: "5 seconds" }))
      assert.isTrue(Either.isLeft(result))
      if (Either.isLeft(result)) {
        assert.include(["Timeout", "Unavailable"], result.left.reason)
        assert.include(result.left.detail, `127.0.0.1:${port}`)
      }
      assert.isBelow(Date.now() - started, 3000)
    })
  )

  it.scopedLive("several endpoints: a dead one is skipped", () =>
    Effect.gen(function* () {
      const dead = `127.0.0.1:${yield* Effect.promise(() => refusedPort())}`
      const kv = yield* Etcd.make({
        endpoints: [dead, server.endpoint, `http://${dead}`],
        timeout: "3 seconds"
      })
      const p = fresh()
      for (let i = 0; i < 8; i++) yield* kv.put(`${p}k${i}`, String(i), { ttl: "10 seconds" })
      assert.strictEqual((yield* kv.list(p)).pairs.length, 8)
      const w = yield* watching(kv, p)
      yield* w.until((s) => s.pairs.length === 8, "8 keys")
      yield* kv.delete(`${p}k0`)
      yield* w.until((s) => s.pairs.length === 7, "7 keys")
    })
  )

  it.scopedLive(
    "as the shared store of two discovery servers: one sees the other's writes, long-polls wake, TTLs expire in etcd",
    () =>
      Effect.gen(function* () {
        const ns = `srv${process.pid}-${++run}`
        // Two instances: two clients, one etcd, one key prefix.
        const a = yield* DiscoveryServer.makeHandler({ store: yield* store({ prefix: ns }) })
        const b = yield* DiscoveryServer.makeHandler({ store: yield* store({ prefix: ns }) })
        const token = (yield* a.handle("POST", "/v1/clusters", "")).body
        const register = (address: string) => a.handle("POST", `/v1/clusters/${token}?ttl=2`, address)
        assert.strictEqual((yield* register("10.0.0.1:2375")).status, 200)
        const listed = yield* b.handle("GET", `/v1/clusters/${token}`, "")
        assert.deepStrictEqual(JSON.parse(listed.body), ["10.0.0.1:2375"])
        const keys = yield* Effect.promise(() => server.etcdctl("get", "--prefix", "--keys-only", `${ns}/`))
        assert.deepStrictEqual(
          keys.split("\n").filter((l) => l !== ""),
          [`${ns}/\u0000lease-mode`, `${ns}/${token}/10.0.0.1:2375`]
        )
        // A long-poll on B wakes for a registration made through A (well before its 20s wait).
        let index = Object.entries(listed.headers ?? {}).find(
          ([k]) => k.toLowerCase() === "x-discovery-index"
        )![1]
        const poll = Effect.gen(function* () {
          for (;;) {
            const answer = yield* b.handle("GET", `/v1/clusters/${token}?index=${index}&wait=20s`, "")
            const members = JSON.parse(answer.body) as Array<string>
            if (members.includes("10.0.0.2:2375")) return members
            index = Object.entries(answer.headers ?? {}).find(
              ([k]) => k.toLowerCase() === "x-discovery-index"
            )![1]
          }
        })
        const fiber = yield* Effect.fork(poll)
        yield* Effect.sleep("200 millis")
        yield* register("10.0.0.2:2375")
        const woke = yield* Fiber.join(fiber).pipe(Effect.timeout("10 seconds"))
        assert.sameMembers(woke, ["10.0.0.1:2375", "10.0.0.2:2375"])
        // Expiry happens once, in etcd (leases): both instances see the cluster empty.
        yield* Effect.sleep("3500 millis")
        assert.deepStrictEqual(JSON.parse((yield* a.handle("GET", `/v1/clusters/${token}`, "")).body), [])
        assert.deepStrictEqual(JSON.parse((yield* b.handle("GET", `/v1/clusters/${token}`, "")).body), [])
      })
  )

  it.effect("prefixEnd and endpointUrl", () =>
    Effect.sync(() => {
      assert.strictEqual(prefixEnd(Buffer.from("a/")).toString(), "a0")
      assert.deepStrictEqual([...prefixEnd(Buffer.from([0x61, 0xff]))], [0x62])
      assert.deepStrictEqual([...prefixEnd(Buffer.from([0xff]))], [0])
      assert.strictEqual(endpointUrl("h:1", false), "http://h:1")
      assert.strictEqual(endpointUrl("h:1", true), "https://h:1")
      assert.strictEqual(endpointUrl("https://h:1", false), "https://h:1")
    })
  )

  // Last: its TTL keys leave leases behind that expire in the seconds after, under the lease counts above.
  describe("the KvStore suite", () => {
    // Leases are whole seconds, expired by etcd's lessor (every 500ms) through raft: a little late, never early.
    testStore({
      clock: "live",
      make: subjectOf(Effect.suspend(() => store())),
      ttl: "2 seconds",
      expiry: { earliest: "1900 millis", latest: "3500 millis" },
      fresh: false
    })
  })
})

describe.skipIf(!available || !gates.openssl())("KvStore/Etcd over mutual TLS (real etcd)", () => {
  let pki: EtcdTls
  let tlsServer: EtcdServer
  let dir: string | undefined
  beforeAll(async () => {
    dir = tempDir("etcd-tls")
    pki = makeEtcdTls(dir)
    tlsServer = await startEtcd({ tls: pki })
  })
  afterAll(async () => {
    await tlsServer?.dispose()
    if (dir) removeDir(dir)
  })

  it.scopedLive("with kv.cacertfile/certfile/keyfile the store works over https", () =>
    Effect.gen(function* () {
      const kv = yield* Etcd.make({
        endpoints: [tlsServer.endpoint],
        tls: { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey },
        timeout: "5 seconds"
      })
      yield* kv.put("tls/a", "1", { ttl: "5 seconds" })
      assert.deepStrictEqual((yield* kv.list("tls/")).pairs, [{ key: "tls/a", value: "1" }])
      const first = yield* kv.watch("tls/").pipe(Stream.take(1), Stream.runCollect)
      assert.strictEqual(Chunk.unsafeHead(first).pairs.length, 1)
    })
  )

  it.scopedLive("without a client certificate the server refuses, with a clear error", () =>
    Effect.gen(function* () {
      const kv = yield* Etcd.make({
        endpoints: [tlsServer.endpoint],
        tls: { ca: pki.ca },
        timeout: "3 seconds"
      })
      const result = yield* Effect.either(kv.list("tls/"))
      assert.isTrue(Either.isLeft(result))
      if (Either.isLeft(result)) assert.include(result.left.detail, tlsServer.endpoint)
    })
  )

  it.scopedLive("a missing certificate file is an Invalid error naming the option", () =>
    Effect.gen(function* () {
      const result = yield* Effect.either(
        Etcd.make({ endpoints: [tlsServer.endpoint], tls: { ca: "/nonexistent/ca.pem" } })
      )
      assert.isTrue(Either.isLeft(result))
      if (Either.isLeft(result)) {
        assert.strictEqual(result.left.reason, "Invalid")
        assert.include(result.left.detail, "kv.cacertfile /nonexistent/ca.pem")
      }
    })
  )
})
