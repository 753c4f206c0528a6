// Watch latency, from a registration (put with a TTL, by one client) to the watcher's snapshot that holds
// it (another client), for the etcd and ZooKeeper KvStores, p50/p99. Baseline, same run and same server:
// the raw client library doing the same (etcd3 put + etcd3 watcher; node-zookeeper-client create +
// children watch). Samples alternate store/raw so machine load hits both alike; each sample's key is
// deleted (untimed) before the next, over BACKGROUND steady members. Starts its own etcd and ZooKeeper
// on free loopback ports with temp data dirs (skips a backend whose server is not installed).
// Run after `npm run build` (npm run bench does it).   SAMPLES=200 node bench/kv-watch-latency.bench.mjs
import { spawn, spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { createServer, Socket } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Exit, Scope, Stream } from "effect"
import { observer, percentile, report } from "./lib.mjs"

const SAMPLES = Number(process.env.SAMPLES ?? 200)
const WARMUP = 20
const BACKGROUND = 10
const require = createRequire(import.meta.url)

const freePort = () =>
  new Promise((resolve, reject) => {
    const s = createServer()
    s.on("error", reject)
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const waitFor = async (what, check, ms = 30_000) => {
  const deadline = Date.now() + ms
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`${what} not ready`)
    await sleep(50)
  }
}
const has = (cmd, args) => spawnSync(cmd, args, { stdio: "ignore" }).status === 0

/** Starts a server process; returns its stop function (by PID, ours only). */
const startProcess = (cmd, args, dir) => {
  const child = spawn(cmd, args, { stdio: "ignore", cwd: dir })
  const exited = new Promise((r) => child.once("exit", r))
  return async () => {
    if (child.exitCode === null) child.kill("SIGTERM")
    await exited
    rmSync(dir, { recursive: true, force: true })
  }
}

const startEtcd = async () => {
  const dir = mkdtempSync(join(tmpdir(), "swarm-bench-etcd-"))
  const [client, peer] = [await freePort(), await freePort()]
  const url = `http://127.0.0.1:${client}`
  const stop = startProcess(
    "etcd",
    [
      "--name",
      "default",
      "--data-dir",
      join(dir, "data"),
      "--listen-client-urls",
      url,
      "--advertise-client-urls",
      url,
      "--listen-peer-urls",
      `http://127.0.0.1:${peer}`,
      "--initial-advertise-peer-urls",
      `http://127.0.0.1:${peer}`,
      "--initial-cluster",
      `default=http://127.0.0.1:${peer}`,
      "--logger",
      "zap",
      "--log-level",
      "error"
    ],
    dir
  )
  await waitFor("etcd", async () => (await fetch(`${url}/health`)).ok)
  return { endpoint: `127.0.0.1:${client}`, stop }
}

const srvr = (port) =>
  new Promise((resolve, reject) => {
    const s = new Socket()
    let out = ""
    s.on("data", (d) => (out += d))
      .on("end", () => resolve(out))
      .on("error", reject)
    s.connect(port, "127.0.0.1", () => s.write("srvr"))
  })

const startZookeeper = async () => {
  const dir = mkdtempSync(join(tmpdir(), "swarm-bench-zk-"))
  const port = await freePort()
  writeFileSync(
    join(dir, "zoo.cfg"),
    `tickTime=500\ndataDir=${join(dir, "data")}\nclientPort=${port}\nclientPortAddress=127.0.0.1\n` +
      "admin.enableServer=false\n4lw.commands.whitelist=srvr\n"
  )
  const jars = ["/usr/share/java/zookeeper.jar", "/usr/share/java/slf4j-simple.jar"]
  const stop = startProcess(
    "java",
    [
      "-Xmx256m",
      "-XX:+UseSerialGC",
      "-cp",
      jars.join(":"),
      "org.apache.zookeeper.server.ZooKeeperServerMain",
      "zoo.cfg"
    ],
    dir
  )
  await waitFor("ZooKeeper", async () => (await srvr(port)).includes("Mode: standalone"))
  return { endpoint: `127.0.0.1:${port}`, stop }
}

/** One timed registration: put, then wait until the watcher shows the key; then delete it, untimed. */
const sample = async (put, del, watch, key) => {
  const t0 = performance.now()
  await put(key)
  const seen = await watch.until((keys) => keys.includes(key))
  await del(key)
  await watch.until((keys) => !keys.includes(key))
  return seen - t0
}

const measure = async (targets) => {
  const times = Object.fromEntries(targets.map((t) => [t.name, []]))
  for (let i = 0; i < WARMUP + SAMPLES; i++) {
    for (const t of i % 2 === 0 ? targets : [...targets].reverse()) {
      const ms = await sample(t.put, t.del, t.watch, `s${i}`)
      if (i >= WARMUP) times[t.name].push(ms)
    }
  }
  return times
}

const storeTarget = async (name, make, scope, prefix) => {
  const writer = await Effect.runPromise(make().pipe(Scope.extend(scope)))
  const reader = await Effect.runPromise(make().pipe(Scope.extend(scope)))
  for (let i = 0; i < BACKGROUND; i++)
    await Effect.runPromise(writer.put(`${prefix}bg${i}`, "x", { ttl: "60 seconds" }))
  const watch = observer()
  Effect.runFork(
    reader.watch(prefix).pipe(
      Stream.runForEach((s) => Effect.sync(() => watch.push(s.pairs.map((p) => p.key.slice(prefix.length))))),
      Scope.extend(scope)
    )
  )
  await watch.until((keys) => keys.length === BACKGROUND)
  return {
    name,
    put: (key) => Effect.runPromise(writer.put(prefix + key, key, { ttl: "60 seconds" })),
    del: (key) => Effect.runPromise(writer.delete(prefix + key)),
    watch
  }
}

const rows = []
const notes = { samples: SAMPLES, background_members: BACKGROUND }

const summarize = (backend, times, baseline) => {
  for (const [target, xs] of Object.entries(times)) {
    const p50 = percentile(xs, 50)
    const p99 = percentile(xs, 99)
    const base = times[baseline]
    rows.push({
      backend,
      target,
      p50_ms: p50,
      p99_ms: p99,
      p50_vs_raw: p50 / percentile(base, 50),
      p99_vs_raw: p99 / percentile(base, 99)
    })
  }
}

if (has("etcd", ["--version"])) {
  const server = await startEtcd()
  const scope = Effect.runSync(Scope.make())
  try {
    const Etcd = await import("../dist/esm/KvStore/Etcd.js")
    const { Etcd3 } = require("etcd3")
    const store = await storeTarget(
      "KvStore/Etcd",
      () => Etcd.make({ endpoints: [server.endpoint] }),
      scope,
      "bench/store/"
    )
    // Raw etcd3: leases per put as the store does, and a prefix watcher keeping its own key set.
    const writer = new Etcd3({ hosts: `http://${server.endpoint}` })
    const reader = new Etcd3({ hosts: `http://${server.endpoint}` })
    const keys = new Set()
    const watch = observer()
    const watcher = await reader.watch().prefix("bench/raw/").create()
    watcher.on("put", (kv) => (keys.add(kv.key.toString().slice("bench/raw/".length)), watch.push([...keys])))
    watcher.on(
      "delete",
      (kv) => (keys.delete(kv.key.toString().slice("bench/raw/".length)), watch.push([...keys]))
    )
    const raw = {
      name: "raw etcd3",
      put: async (key) => {
        const lease = writer.lease(60, { autoKeepAlive: false })
        await lease.put(`bench/raw/${key}`).value(key)
      },
      del: (key) => writer.delete().key(`bench/raw/${key}`),
      watch
    }
    summarize("etcd 3.4", await measure([store, raw]), "raw etcd3")
    await watcher.cancel()
    writer.close()
    reader.close()
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    await server.stop()
  }
} else console.log("etcd is not installed: skipping the etcd rows")

if (has("java", ["-version"]) && existsSync("/usr/share/java/zookeeper.jar")) {
  const server = await startZookeeper()
  const scope = Effect.runSync(Scope.make())
  try {
    const Zk = await import("../dist/esm/KvStore/Zookeeper.js")
    const zookeeper = require("node-zookeeper-client")
    const store = await storeTarget(
      "KvStore/Zookeeper",
      () => Zk.make({ hosts: [server.endpoint], sessionTimeout: "10 seconds" }),
      scope,
      "bench/store/"
    )
    // Raw client: ephemeral creates, and a children watch re-armed after every event.
    const connect = () =>
      new Promise((resolve) => {
        const c = zookeeper.createClient(server.endpoint, { sessionTimeout: 10_000 })
        c.once("connected", () => resolve(c))
        c.connect()
      })
    const writer = await connect()
    const reader = await connect()
    await new Promise((r) => writer.mkdirp("/bench/raw", r))
    const watch = observer()
    const arm = () => reader.getChildren("/bench/raw", arm, (e, children) => !e && watch.push(children))
    arm()
    const cb = (resolve, reject) => (e) => (e ? reject(e) : resolve())
    const raw = {
      name: "raw node-zookeeper-client",
      put: (key) =>
        new Promise((res, rej) =>
          writer.create(`/bench/raw/${key}`, Buffer.from(key), zookeeper.CreateMode.EPHEMERAL, cb(res, rej))
        ),
      del: (key) => new Promise((res, rej) => writer.remove(`/bench/raw/${key}`, -1, cb(res, rej))),
      watch
    }
    summarize("ZooKeeper 3.8", await measure([store, raw]), "raw node-zookeeper-client")
    writer.close()
    reader.close()
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    await server.stop()
  }
} else console.log("ZooKeeper is not installed: skipping the ZooKeeper rows")

report("kv-watch-latency", rows, {
  ...notes,
  aim: "p99 under 50 ms on loopback",
  measured: "put (a registration with a TTL) by one client until another client's watch shows the key"
})
process.exit(0)
