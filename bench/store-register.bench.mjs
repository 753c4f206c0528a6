// Register throughput of the discovery server over etcd (`swarm serve --store etcd://`) against the default SQLite
// store, in the same run, rounds interleaved. Starts its own etcd (Debian's etcd-server) on free loopback ports with
// a temporary data dir. Each server runs in its own process; autocannon loads it from a third.
//   ROUNDS=3 DURATION=3 CONNECTIONS=32 node bench/store-register.bench.mjs
// The file is also its own child: `--serve sqlite|etcd ENDPOINT`, `--load url`.
import { fork, spawn, spawnSync } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { median, report } from "./lib.mjs"

const ROUNDS = Number(process.env.ROUNDS ?? 3)
const DURATION = Number(process.env.DURATION ?? 3)
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 32)
const TOKEN = "0123456789abcdef0123456789abcdef"
const [mode, ...args] = process.argv.slice(2)

const freePort = () =>
  new Promise((resolve) => {
    const s = createServer()
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })

if (mode === "--serve") {
  const [kind, endpoint] = args
  const { Effect, Exit, Scope } = await import("effect")
  const Server = await import("../dist/esm/Server/Server.js")
  const scope = Effect.runSync(Scope.make())
  const dir = mkdtempSync(join(tmpdir(), "swarm-bench-"))
  const opened =
    kind === "etcd"
      ? await import("../dist/esm/KvStore/Etcd.js").then((E) =>
          Effect.runPromise(
            E.make({ endpoints: [endpoint], prefix: "bench" }).pipe(
              Effect.map((store) => ({ store })),
              Scope.extend(scope)
            )
          )
        )
      : await import("../dist/esm/KvStore/Sqlite.js").then((S) =>
          Effect.runPromise(
            S.make({ filename: join(dir, "bench.db") }).pipe(
              Effect.map((store) => ({
                store,
                stats: store.stats,
                early: { store: store.early, whenDurable: store.whenDurable }
              })),
              Scope.extend(scope)
            )
          )
        )
  const listening = await Effect.runPromise(
    Server.listen({ port: 0, ...opened, maxEntries: 10_000 }).pipe(Scope.extend(scope))
  )
  process.on("message", async () => {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    rmSync(dir, { recursive: true, force: true })
    process.exit(0)
  })
  process.send({ port: listening.port })
} else if (mode === "--load") {
  const autocannon = (await import("autocannon")).default
  const result = await autocannon({
    url: args[0],
    connections: CONNECTIONS,
    duration: Number(args[1]),
    method: "POST",
    body: "10.0.0.7:2375",
    headers: { "content-type": "application/json" }
  })
  process.send({
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts + result.non2xx
  })
} else {
  if (spawnSync("etcd", ["--version"]).status !== 0) {
    console.warn("store-register bench: `etcd` is not installed (apt-get install etcd-server); skipped")
    process.exit(0)
  }
  const [clientPort, peerPort] = [await freePort(), await freePort()]
  const etcdDir = mkdtempSync(join(tmpdir(), "swarm-bench-etcd-"))
  const etcd = spawn(
    "etcd",
    [
      "--data-dir",
      etcdDir,
      "--name",
      "bench",
      "--listen-client-urls",
      `http://127.0.0.1:${clientPort}`,
      "--advertise-client-urls",
      `http://127.0.0.1:${clientPort}`,
      "--listen-peer-urls",
      `http://127.0.0.1:${peerPort}`,
      "--initial-advertise-peer-urls",
      `http://127.0.0.1:${peerPort}`,
      "--initial-cluster",
      `bench=http://127.0.0.1:${peerPort}`
    ],
    { stdio: "ignore" }
  )
  const endpoint = `127.0.0.1:${clientPort}`
  for (let i = 0; ; i++) {
    const ok = await fetch(`http://${endpoint}/health`).then(
      (r) => r.ok,
      () => false
    )
    if (ok) break
    if (i > 100) throw new Error("etcd did not become healthy")
    await new Promise((r) => setTimeout(r, 100))
  }
  const self = new URL(import.meta.url).pathname
  const child = (argv) => fork(self, argv, { stdio: ["ignore", "inherit", "inherit", "ipc"] })
  const once = (proc) => new Promise((resolve) => proc.once("message", resolve))
  const start = async (kind) => {
    const proc = child(["--serve", kind, endpoint])
    const { port } = await once(proc)
    return { proc, url: `http://127.0.0.1:${port}/v1/clusters/${TOKEN}?ttl=3600` }
  }
  const load = async (url, seconds = DURATION) => {
    const proc = child(["--load", url, String(seconds)])
    const result = await once(proc)
    await new Promise((r) => proc.once("exit", r))
    return result
  }
  try {
    const servers = { sqlite: await start("sqlite"), etcd: await start("etcd") }
    const kinds = Object.keys(servers)
    const samples = { sqlite: [], etcd: [] }
    for (const k of kinds) await load(servers[k].url, 1)
    for (let round = 0; round < ROUNDS; round++)
      for (const k of kinds) samples[k].push(await load(servers[k].url))
    for (const k of kinds) servers[k].proc.send("stop")
    const base = median(samples.sqlite.map((s) => s.rps))
    report(
      "store-register",
      kinds.map((k) => ({
        store: k,
        req_per_s: Math.round(median(samples[k].map((s) => s.rps))),
        p50_ms: median(samples[k].map((s) => s.p50)),
        p99_ms: median(samples[k].map((s) => s.p99)),
        ratio_vs_sqlite: median(samples[k].map((s) => s.rps)) / base,
        errors: samples[k].reduce((n, s) => n + s.errors, 0)
      })),
      {
        rounds: ROUNDS,
        duration_s: DURATION,
        connections: CONNECTIONS,
        note: "register = POST refreshing one live entry (a heartbeat); medians over rounds"
      }
    )
  } finally {
    etcd.kill("SIGTERM")
    await new Promise((r) => etcd.once("exit", r))
    rmSync(etcdDir, { recursive: true, force: true })
  }
}
