// Register throughput of the discovery server over etcd (`swarm serve --store etcd://`) against raw etcd3 puts with
// the same concurrency on the same etcd (the baseline), and against the default SQLite store; one run, rounds
// interleaved. Starts its own etcd (Debian's etcd-server) on free loopback ports with a temporary data dir. Each
// server runs in its own process; autocannon (or the raw etcd3 loop) loads it from another.
//   ROUNDS=3 DURATION=3 CONNECTIONS=32 node bench/store-register.bench.mjs
// The file is also its own child: `--serve sqlite|etcd ENDPOINT`, `--load url`, `--raw ENDPOINT seconds`.
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
} else if (mode === "--raw") {
  // The baseline: CONNECTIONS loops of etcd3 puts (one fsynced raft write each), as many in flight as autocannon's.
  const { Etcd3 } = await import("etcd3")
  const client = new Etcd3({ hosts: `http://${args[0]}` })
  const until = performance.now() + Number(args[1]) * 1000
  const latencies = []
  const loop = async (i) => {
    while (performance.now() < until) {
      const start = performance.now()
      await client.put(`raw/${TOKEN}/10.0.0.${i}:2375`).value(`10.0.0.${i}:2375`)
      latencies.push(performance.now() - start)
    }
  }
  const started = performance.now()
  await Promise.all(Array.from({ length: CONNECTIONS }, (_, i) => loop(i)))
  const seconds = (performance.now() - started) / 1000
  const sorted = latencies.sort((a, b) => a - b)
  process.send({
    rps: latencies.length / seconds,
    p50: sorted[Math.floor(sorted.length / 2)],
    p99: sorted[Math.floor(sorted.length * 0.99)],
    errors: 0
  })
  client.close()
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
    const proc = child(
      url === "raw" ? ["--raw", endpoint, String(seconds)] : ["--load", url, String(seconds)]
    )
    const result = await once(proc)
    await new Promise((r) => proc.once("exit", r))
    return result
  }
  try {
    const servers = { sqlite: await start("sqlite"), etcd: await start("etcd") }
    const targets = { "raw etcd3 put": "raw", sqlite: servers.sqlite.url, etcd: servers.etcd.url }
    const kinds = Object.keys(targets)
    const samples = Object.fromEntries(kinds.map((k) => [k, []]))
    for (const k of kinds) await load(targets[k], 1)
    for (let round = 0; round < ROUNDS; round++)
      for (const k of kinds) samples[k].push(await load(targets[k]))
    for (const server of Object.values(servers)) server.proc.send("stop")
    const rps = (k) => median(samples[k].map((s) => s.rps))
    report(
      "store-register",
      kinds.map((k) => ({
        store: k,
        req_per_s: Math.round(rps(k)),
        p50_ms: median(samples[k].map((s) => s.p50)),
        p99_ms: median(samples[k].map((s) => s.p99)),
        ratio_vs_raw_etcd: rps(k) / rps("raw etcd3 put"),
        ratio_vs_sqlite: rps(k) / rps("sqlite"),
        errors: samples[k].reduce((n, s) => n + s.errors, 0)
      })),
      {
        rounds: ROUNDS,
        duration_s: DURATION,
        connections: CONNECTIONS,
        note: "register = POST refreshing one live entry (a heartbeat); raw = etcd3 put of a key, same concurrency, same etcd; medians over rounds"
      }
    )
  } finally {
    etcd.kill("SIGTERM")
    await new Promise((r) => etcd.once("exit", r))
    rmSync(etcdDir, { recursive: true, force: true })
  }
}
