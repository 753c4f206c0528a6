/**
 * `etcd://` and `zk://` discovery, through `Discovery.make`/`layer`, against
 * real servers: Swarm's key layout (checked with etcdctl and a raw ZooKeeper
 * client), `kv.path`, several hosts, TLS options, the shared conformance
 * suite, and faults (server restarts under heartbeating joiners and a watch,
 * an expired ZooKeeper session, an unreachable server at startup).
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { createRequire } from "node:module"
import { Context, Duration, Effect, Either, Layer, Logger, LogLevel, Queue, Stream } from "effect"
import * as Discovery from "../../src/Discovery.js"
import * as Entries from "../../src/Entries.js"
import * as Entry from "../../src/Entry.js"
import * as Join from "../../src/Join.js"
import { conformance } from "../support/conformance.js"
import { type EtcdServer, type EtcdTls, etcdAvailable, makeEtcdTls, startEtcd } from "../support/etcd.js"
import { removeDir, tcpProxy, tempDir } from "../support/kv-server.js"
import { freePort, refusedPort } from "../support/net.js"
import { gates } from "../support/gate.js"
import { startZookeeper, type ZookeeperServer, zookeeperAvailable } from "../support/zookeeper.js"

const haveEtcd = etcdAvailable()
const haveZk = zookeeperAvailable()
const zk = createRequire(import.meta.url)("node-zookeeper-client")

let run = 0
const fresh = () => `kvb${process.pid}-${++run}`
const e = (s: string) => Either.getOrThrow(Entry.parse(s))
const show = (entries: Entries.Entries) => Entries.format(entries).join(",")
const quiet = Logger.withMinimumLogLevel(LogLevel.None)

/** A background watch that records every snapshot; `until` waits for one that matches. */
const watching = (discovery: Discovery.DiscoveryShape) =>
  Effect.gen(function* () {
    const queue = yield* Queue.unbounded<Either.Either<Entries.Entries, Discovery.DiscoveryError>>()
    const seen: Array<Entries.Entries> = []
    yield* discovery.watch.pipe(
      Stream.runForEach((entries) => Queue.offer(queue, Either.right(entries))),
      Effect.catchAll((error) => Queue.offer(queue, Either.left(error))),
      Effect.forkScoped
    )
    const until = (expected: ReadonlyArray<string>, what: string, limit = Duration.seconds(15)) =>
      Effect.gen(function* () {
        const want = Entries.fromIterable(expected.map(e))
        for (;;) {
          const last = seen[seen.length - 1]
          if (last !== undefined && Entries.equals(last, want)) return last
          // A failed watch fails the wait, with its error.
          seen.push(yield* Effect.flatten(Queue.take(queue)))
        }
      }).pipe(
        Effect.timeoutFail({
          duration: limit,
          onTimeout: () => new Error(`timed out waiting for ${what}; saw ${seen.map(show).join(" | ")}`)
        })
      )
    return { until, seen }
  })

/**
 * Joiners running `Join.join` in this process, each with its own client (and connection); `onRegistered`
 * runs after each registration the backend acknowledged.
 */
const joiner = (
  url: string,
  address: string,
  options: { heartbeat: Duration.DurationInput; ttl: Duration.DurationInput },
  onRegistered: () => void = () => {}
) =>
  Effect.gen(function* () {
    const discovery = yield* Discovery.make(url, options)
    const counted: Discovery.DiscoveryShape = {
      ...discovery,
      register: (entry) => Effect.tap(discovery.register(entry), () => Effect.sync(onRegistered))
    }
    return yield* Join.join(e(address), { heartbeat: options.heartbeat }).pipe(
      Effect.provideService(Discovery.Discovery, counted),
      quiet,
      Effect.forkScoped
    )
  })

// --- etcd ---

class Etcd extends Context.Tag("test/KvBackends/Etcd")<Etcd, EtcdServer>() {}
const etcdLayer = Layer.scoped(
  Etcd,
  Effect.acquireRelease(
    Effect.promise(() => startEtcd()),
    (server) => Effect.promise(() => server.dispose())
  )
)

if (haveEtcd) {
  conformance("etcd://", {
    clock: "live",
    layer: etcdLayer,
    cluster: Effect.map(Etcd, (server) => {
      const prefix = fresh()
      return (options) => Discovery.make(`etcd://${server.endpoint}/${prefix}`, options)
    })
  })
}

describe.skipIf(!haveEtcd)("etcd:// discovery (real etcd)", () => {
  let server: EtcdServer
  beforeAll(async () => {
    server = await startEtcd()
  })
  afterAll(async () => {
    await server?.dispose()
  })

  it.scopedLive(
    "keys follow Swarm's layout <prefix>/docker/swarm/nodes/<host:port>; deregister deletes",
    () =>
      Effect.gen(function* () {
        const prefix = fresh()
        const discovery = yield* Discovery.make(`etcd://${server.endpoint}/${prefix}`, { ttl: "10 seconds" })
        yield* discovery.register(e("10.0.0.1:2375"))
        yield* discovery.register(e("[2001:db8::1]:2376"))
        const raw = yield* Effect.promise(() => server.etcdctl("get", "--prefix", `${prefix}/`))
        assert.deepStrictEqual(
          raw.split("\n").filter((l) => l !== ""),
          [
            `${prefix}/docker/swarm/nodes/10.0.0.1:2375`,
            "10.0.0.1:2375",
            `${prefix}/docker/swarm/nodes/[2001:db8::1]:2376`,
            "[2001:db8::1]:2376"
          ]
        )
        // An entry written by another client (Go swarm) in the same layout is listed.
        yield* Effect.promise(() =>
          server.etcdctl("put", `${prefix}/docker/swarm/nodes/10.9.9.9:2375`, "10.9.9.9:2375")
        )
        const first = yield* discovery.watch.pipe(Stream.runHead)
        assert.strictEqual(
          show(first._tag === "Some" ? first.value : []),
          "10.0.0.1:2375,10.9.9.9:2375,[2001:db8::1]:2376"
        )
        yield* discovery.deregister(e("10.0.0.1:2375"))
        const after = yield* Effect.promise(() =>
          server.etcdctl("get", "--prefix", "--keys-only", `${prefix}/`)
        )
        assert.notInclude(after, "10.0.0.1:2375")
      })
  )

  it.scopedLive("kv.path replaces docker/swarm/nodes; an empty URL path means no prefix", () =>
    Effect.gen(function* () {
      const path = `${fresh()}/custom/nodes`
      const discovery = yield* Discovery.make(`etcd://${server.endpoint}`, {
        ttl: "10 seconds",
        options: { "kv.path": path }
      })
      yield* discovery.register(e("10.0.0.2:2375"))
      const keys = yield* Effect.promise(() => server.etcdctl("get", "--prefix", "--keys-only", `${path}/`))
      assert.deepStrictEqual(
        keys.split("\n").filter((l) => l !== ""),
        [`${path}/10.0.0.2:2375`]
      )
    })
  )

  it.scopedLive("etcd://dead,live/prefix works through the live host", () =>
    Effect.gen(function* () {
      const dead = `127.0.0.1:${yield* Effect.promise(() => refusedPort())}`
      const prefix = fresh()
      const discovery = yield* Discovery.make(`etcd://${dead},${server.endpoint}/${prefix}`, {
        ttl: "10 seconds"
      })
      const w = yield* watching(discovery)
      yield* w.until([], "the empty cluster")
      for (const a of ["10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1"]) yield* discovery.register(e(a))
      yield* w.until(["10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1"], "three members")
    })
  )

  it.scopedLive(
    "an unreachable etcd: watch (list) fails fast with a clear message; join keeps retrying until it is up",
    () =>
      Effect.gen(function* () {
        const port = yield* Effect.promise(() => freePort())
        const url = `etcd://127.0.0.1:${port}/${fresh()}`
        // Stopped last, after the joiner has left.
        let late: { readonly dispose: () => Promise<void> } | undefined
        yield* Effect.addFinalizer(() => Effect.promise(() => late?.dispose() ?? Promise.resolve()))
        const discovery = yield* Discovery.make(url, { ttl: "5 seconds" })
        const started = Date.now()
        const listed = yield* Effect.either(discovery.watch.pipe(Stream.runHead))
        assert.isTrue(Either.isLeft(listed))
        if (Either.isLeft(listed)) {
          assert.strictEqual(listed.left._tag, "Unavailable")
          assert.include(listed.left.message, `127.0.0.1:${port}`)
        }
        assert.isBelow(Date.now() - started, 5000)
        // join: failures are retried every heartbeat; once etcd comes up on that port, the node is there.
        yield* joiner(url, "10.1.1.1:2375", { heartbeat: "500 millis", ttl: "5 seconds" })
        yield* Effect.sleep("1200 millis")
        late = yield* Effect.promise(() => startEtcd({ clientPort: port }))
        const w = yield* watching(discovery)
        yield* w.until(["10.1.1.1:2375"], "the joiner, once etcd is up")
      })
  )

  it.scopedLive(
    "etcd restarted under heartbeating joiners and a watch: no crash, re-registration within a heartbeat, convergence, no false removal",
    () =>
      Effect.gen(function* () {
        const prefix = fresh()
        const url = `etcd://${server.endpoint}/${prefix}`
        const heartbeat = Duration.seconds(1)
        const live = ["10.0.0.1:2375", "10.0.0.2:2375", "10.0.0.3:2375"]
        const registeredAt = new Map<string, number>()
        const joiners = yield* Effect.forEach(live, (a) =>
          joiner(url, a, { heartbeat, ttl: "4 seconds" }, () => registeredAt.set(a, Date.now()))
        )
        // A member that registered once and then died: its TTL runs out during or after the outage.
        const dead = yield* Discovery.make(url, { ttl: "2 seconds" })
        yield* dead.register(e("10.0.0.9:2375"))
        const watcher = yield* Discovery.make(url, { ttl: "4 seconds" })
        const w = yield* watching(watcher)
        yield* w.until([...live, "10.0.0.9:2375"], "all four")
        const allIn = w.seen.length - 1

        yield* Effect.promise(() => server.kill())
        yield* Effect.sleep("1500 millis")
        yield* Effect.promise(() => server.start())
        const back = Date.now()

        // Every joiner registers again (etcd acknowledged it) within one heartbeat, plus slack for scheduling,
        // of etcd's return.
        yield* Effect.gen(function* () {
          while (!live.every((a) => (registeredAt.get(a) ?? 0) > back)) yield* Effect.sleep("100 millis")
        }).pipe(
          Effect.timeoutFail({
            duration: Duration.sum(heartbeat, "1500 millis"),
            onTimeout: () =>
              new Error("the joiners did not register again within a heartbeat of etcd's return")
          })
        )

        // The watch resumes and converges: the dead member's TTL runs out, the live ones stay.
        yield* w.until(live, "the three live members only", Duration.seconds(10))
        for (const snapshot of w.seen.slice(allIn)) {
          const members = Entries.format(snapshot)
          for (const a of live)
            assert.include(members, a, `live ${a} reported removed: ${w.seen.map(show).join(" | ")}`)
        }
        // No joiner crashed.
        for (const fiber of joiners) assert.isNull(fiber.unsafePoll())
      })
  )

  describe.skipIf(!gates.openssl())("TLS through kv.cacertfile/kv.certfile/kv.keyfile", () => {
    let dir: string | undefined
    let tlsServer: EtcdServer
    let pki: EtcdTls
    beforeAll(async () => {
      dir = tempDir("kvb-tls")
      pki = makeEtcdTls(dir)
      tlsServer = await startEtcd({ tls: pki })
    })
    afterAll(async () => {
      await tlsServer?.dispose()
      if (dir) removeDir(dir)
    })

    it.scopedLive("register and watch over mutual TLS", () =>
      Effect.gen(function* () {
        const options = {
          "kv.cacertfile": pki.ca,
          "kv.certfile": pki.clientCert,
          "kv.keyfile": pki.clientKey
        }
        const discovery = yield* Discovery.make(`etcd://${tlsServer.endpoint}/${fresh()}`, {
          ttl: "10 seconds",
          options
        })
        const w = yield* watching(discovery)
        yield* w.until([], "empty")
        yield* discovery.register(e("10.0.0.5:2375"))
        yield* w.until(["10.0.0.5:2375"], "the member over TLS")
        const plain = yield* Discovery.make(`etcd://${tlsServer.endpoint}/${fresh()}`, { ttl: "10 seconds" })
        const refused = yield* Effect.either(plain.register(e("10.0.0.5:2375")))
        assert.isTrue(Either.isLeft(refused), "plain http to a TLS etcd fails")
      })
    )
  })
})

// --- ZooKeeper ---

class Zk extends Context.Tag("test/KvBackends/Zk")<Zk, ZookeeperServer>() {}
const zkLayer = Layer.scoped(
  Zk,
  Effect.acquireRelease(
    Effect.promise(() => startZookeeper({ tickTime: 500 })),
    (server) => Effect.promise(() => server.dispose())
  )
)

if (haveZk) {
  conformance("zk://", {
    clock: "live",
    layer: zkLayer,
    cluster: Effect.map(Zk, (server) => {
      const prefix = fresh()
      return (options) => Discovery.make(`zk://${server.endpoint}/${prefix}`, options)
    })
  })
}

/** Reads a znode with a raw client: its data and whether it is ephemeral. */
const rawNode = (endpoint: string, path: string) =>
  Effect.acquireUseRelease(
    Effect.async<any>((resume) => {
      const c = zk.createClient(endpoint, { sessionTimeout: 3000 })
      c.once("connected", () => resume(Effect.succeed(c)))
      c.connect()
    }),
    (c) =>
      Effect.async<{ data: string; ephemeral: boolean } | null>((resume) =>
        c.getData(path, (error: any, data: Buffer, stat: any) =>
          resume(
            Effect.succeed(
              error
                ? null
                : { data: data?.toString() ?? "", ephemeral: !stat.ephemeralOwner.equals(Buffer.alloc(8)) }
            )
          )
        )
      ),
    (c) => Effect.sync(() => c.close())
  )

describe.skipIf(!haveZk)("zk:// discovery (real ZooKeeper)", () => {
  let server: ZookeeperServer
  beforeAll(async () => {
    server = await startZookeeper({ tickTime: 500 })
  })
  afterAll(async () => {
    await server?.dispose()
  })

  it.scopedLive(
    "znodes follow Swarm's layout /<prefix>/docker/swarm/nodes/<host:port>, ephemeral; kv.path overrides",
    () =>
      Effect.gen(function* () {
        const prefix = fresh()
        const discovery = yield* Discovery.make(`zk://${server.endpoint}/${prefix}`, { ttl: "5 seconds" })
        yield* discovery.register(e("10.0.0.1:2375"))
        yield* discovery.register(e("[::1]:2376"))
        assert.deepStrictEqual(
          yield* rawNode(server.endpoint, `/${prefix}/docker/swarm/nodes/10.0.0.1:2375`),
          {
            data: "10.0.0.1:2375",
            ephemeral: true
          }
        )
        assert.deepStrictEqual(yield* rawNode(server.endpoint, `/${prefix}/docker/swarm/nodes/[::1]:2376`), {
          data: "[::1]:2376",
          ephemeral: true
        })
        yield* discovery.deregister(e("10.0.0.1:2375"))
        assert.isNull(yield* rawNode(server.endpoint, `/${prefix}/docker/swarm/nodes/10.0.0.1:2375`))
        const custom = yield* Discovery.make(`zk://${server.endpoint}/${prefix}`, {
          ttl: "5 seconds",
          options: { "kv.path": "/other/path/" }
        })
        yield* custom.register(e("10.0.0.2:2375"))
        assert.deepStrictEqual(yield* rawNode(server.endpoint, `/${prefix}/other/path/10.0.0.2:2375`), {
          data: "10.0.0.2:2375",
          ephemeral: true
        })
      })
  )

  it.scopedLive("zk://dead,live/prefix works through the live server", () =>
    Effect.gen(function* () {
      const dead = `127.0.0.1:${yield* Effect.promise(() => refusedPort())}`
      const discovery = yield* Discovery.make(`zk://${dead},${server.endpoint}/${fresh()}`, {
        ttl: "5 seconds"
      })
      const w = yield* watching(discovery)
      yield* w.until([], "the empty cluster")
      for (const a of ["10.0.0.1:1", "10.0.0.2:1"]) yield* discovery.register(e(a))
      yield* w.until(["10.0.0.1:1", "10.0.0.2:1"], "two members")
    })
  )

  it.scopedLive(
    "an unreachable ZooKeeper: watch (list) fails with a clear message; join keeps retrying until it is up",
    () =>
      Effect.gen(function* () {
        const port = yield* Effect.promise(() => freePort())
        const url = `zk://127.0.0.1:${port}/${fresh()}`
        // Stopped last, after the joiner has left.
        let late: { readonly dispose: () => Promise<void> } | undefined
        yield* Effect.addFinalizer(() => Effect.promise(() => late?.dispose() ?? Promise.resolve()))
        const discovery = yield* Discovery.make(url, { ttl: "3 seconds" })
        const listed = yield* Effect.either(discovery.watch.pipe(Stream.runHead))
        assert.isTrue(Either.isLeft(listed))
        if (Either.isLeft(listed)) {
          assert.strictEqual(listed.left._tag, "Unavailable")
          assert.include(listed.left.message, `127.0.0.1:${port}`)
        }
        yield* joiner(url, "10.1.1.1:2375", { heartbeat: "500 millis", ttl: "3 seconds" })
        yield* Effect.sleep("1 second")
        late = yield* Effect.promise(() => startZookeeper({ tickTime: 500, port }))
        const w = yield* watching(yield* Discovery.make(url, { ttl: "3 seconds" }))
        yield* w.until(["10.1.1.1:2375"], "the joiner, once ZooKeeper is up", Duration.seconds(20))
      })
  )

  it.scopedLive(
    "ZooKeeper stopped and started under joiners and a watch: no crash, convergence, no false removal; an expired joiner re-creates its node",
    () =>
      Effect.gen(function* () {
        const prefix = fresh()
        const url = `zk://${server.endpoint}/${prefix}`
        const live = ["10.0.0.1:2375", "10.0.0.2:2375"]
        // The sessions that must survive the restart get a timeout well above a restart on a loaded machine
        // (ZooKeeper's JVM start plus the client's reconnect): with 3s, a slow start expired them for real, and
        // ZooKeeper rightly deleted their nodes. The cut-off joiner keeps a short one: its expiry is the point.
        const survives = "15 seconds"
        const joiners = yield* Effect.forEach(live, (a) =>
          joiner(url, a, { heartbeat: "1 second", ttl: survives })
        )
        // One joiner behind a proxy, to cut it off long enough for its session to expire.
        const proxy = yield* Effect.acquireRelease(
          Effect.promise(() => tcpProxy(server.port)),
          (p) => Effect.promise(() => p.close())
        )
        const cutOff = "10.0.0.3:2375"
        joiners.push(
          yield* joiner(`zk://${proxy.endpoint}/${prefix}`, cutOff, {
            heartbeat: "1 second",
            ttl: "2 seconds"
          })
        )
        const watcher = yield* Discovery.make(url, { ttl: survives })
        const w = yield* watching(watcher)
        yield* w.until([...live, cutOff], "all three")
        const allIn = w.seen.length - 1

        yield* Effect.promise(() => server.stop())
        yield* Effect.sleep("1 second")
        yield* Effect.promise(() => server.start())
        // Once ZooKeeper serves again, one registration gets through within the store's timeout: a silent
        // handshake from its start-up is dropped and tried again (internal/zookeeper/guard.ts).
        yield* watcher.register(e("10.0.0.8:2375"))
        yield* w.until([...live, cutOff, "10.0.0.8:2375"], "all, plus one registered after the restart")
        yield* watcher.deregister(e("10.0.0.8:2375"))
        yield* w.until([...live, cutOff], "back to the three")
        const beforeCut = w.seen.length

        proxy.cut()
        yield* w.until(live, "the cut-off joiner to expire with its session", Duration.seconds(10))
        proxy.heal()
        yield* w.until([...live, cutOff], "the cut-off joiner back in a new session", Duration.seconds(15))

        // From the moment all were in: the live members never left, and the cut-off one only with its session.
        for (const [i, snapshot] of w.seen.entries()) {
          if (i < allIn) continue
          const members = Entries.format(snapshot)
          for (const a of live)
            assert.include(members, a, `live ${a} reported removed: ${w.seen.map(show).join(" | ")}`)
          if (i < beforeCut)
            assert.include(members, cutOff, `${cutOff} removed before its session could expire`)
        }
        for (const fiber of joiners) assert.isNull(fiber.unsafePoll())
      }),
    120_000
  )
})
