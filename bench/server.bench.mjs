// Discovery server throughput: register (POST of a live entry: a heartbeat refresh, durable before the
// answer) and list (GET of a 100-entry cluster), against a raw node:http hello-world measured in the same run, rounds interleaved so
// machine load hits every target alike. Each server runs in its own process; autocannon loads it from a
// third. Run after `npm run build` (npm run bench does it).
//   ROUNDS=3 DURATION=4 CONNECTIONS=32 node bench/server.bench.mjs
// The file is also its own child: `--serve raw|sqlite|memory` starts a server, `--load url method` runs autocannon.
import { fork } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { createServer } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { median, report } from "./lib.mjs"

const ROUNDS = Number(process.env.ROUNDS ?? 3)
const DURATION = Number(process.env.DURATION ?? 4)
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 32)
const ENTRIES = 100
const TOKEN = "0123456789abcdef0123456789abcdef"
const address = (i) => `10.0.${Math.floor(i / 250)}.${(i % 250) + 1}:2375`

const [mode, ...args] = process.argv.slice(2)

if (mode === "--serve") {
  const kind = args[0]
  if (kind === "raw") {
    // GET: the hello-world baseline. POST: reads the body first, like a registration must.
    const server = createServer((req, res) => {
      const answer = () => {
        res.writeHead(200, { "content-type": "text/plain" })
        res.end("hello")
      }
      if (req.method !== "POST") return answer()
      let body = ""
      req.on("data", (chunk) => (body += chunk))
      req.on("end", answer)
    })
    server.listen(0, "127.0.0.1", () => process.send({ port: server.address().port }))
  } else {
    const { Effect, Exit, Scope } = await import("effect")
    const Server = await import("../dist/esm/Server/Server.js")
    const scope = Effect.runSync(Scope.make())
    const dir = mkdtempSync(join(tmpdir(), "swarm-bench-"))
    const opened =
      kind === "memory"
        ? await import("../dist/esm/KvStore/Memory.js").then((M) => {
            // With its stats, as `swarm serve --store memory://` runs it (the bounds read them).
            const store = M.unsafeMake()
            return { store, stats: store.stats }
          })
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
    process.on("message", async (m) => {
      if (m === "stop") {
        await Effect.runPromise(Scope.close(scope, Exit.void))
        rmSync(dir, { recursive: true, force: true })
        process.exit(0)
      }
    })
    process.send({ port: listening.port })
  }
} else if (mode === "--load") {
  const autocannon = (await import("autocannon")).default
  const [url, method, seconds] = args
  const result = await autocannon({
    url,
    connections: CONNECTIONS,
    duration: Number(seconds),
    // A fixed request each: per-request client work stays the same for every target.
    method: method,
    ...(method === "POST" ? { body: address(7), headers: { "content-type": "application/json" } } : {})
  })
  process.send({
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts + result.non2xx
  })
} else {
  const self = new URL(import.meta.url).pathname
  const child = (argv) => fork(self, argv, { stdio: ["ignore", "inherit", "inherit", "ipc"] })
  const once = (proc) => new Promise((resolve) => proc.once("message", resolve))

  const start = async (kind) => {
    const proc = child(["--serve", kind])
    const { port } = await once(proc)
    return { proc, base: `http://127.0.0.1:${port}` }
  }
  const load = async (url, method, seconds = DURATION) => {
    const proc = child(["--load", url, method, String(seconds)])
    const result = await once(proc)
    await new Promise((r) => proc.once("exit", r))
    return result
  }

  const servers = { raw: await start("raw"), sqlite: await start("sqlite"), memory: await start("memory") }
  // Fill the clusters the list runs read.
  for (const kind of ["sqlite", "memory"]) {
    for (let i = 0; i < ENTRIES; i++) {
      const res = await fetch(`${servers[kind].base}/v1/clusters/${TOKEN}?ttl=3600`, {
        method: "POST",
        body: address(i)
      })
      if (res.status !== 200) throw new Error(`register failed on ${kind}: ${res.status} ${await res.text()}`)
    }
    const listed = await fetch(`${servers[kind].base}/v1/clusters/${TOKEN}`).then((r) => r.json())
    if (listed.length !== ENTRIES)
      throw new Error(`${kind} lists ${listed.length} entries, expected ${ENTRIES}`)
  }

  const targets = [
    { name: "raw node:http hello", url: `${servers.raw.base}/`, method: "GET" },
    { name: "raw node:http POST (reads body)", url: `${servers.raw.base}/`, method: "POST" },
    { name: "register, sqlite", url: `${servers.sqlite.base}/v1/clusters/${TOKEN}?ttl=3600`, method: "POST" },
    { name: "list 100, sqlite", url: `${servers.sqlite.base}/v1/clusters/${TOKEN}`, method: "GET" },
    { name: "register, memory", url: `${servers.memory.base}/v1/clusters/${TOKEN}?ttl=3600`, method: "POST" },
    { name: "list 100, memory", url: `${servers.memory.base}/v1/clusters/${TOKEN}`, method: "GET" }
  ]
  const samples = targets.map(() => [])
  // A short warm-up of each, then the rounds.
  for (const t of targets) await load(t.url, t.method, 1)
  for (let round = 0; round < ROUNDS; round++) {
    for (const [j, t] of targets.entries()) samples[j].push(await load(t.url, t.method))
  }
  for (const { proc } of Object.values(servers)) {
    proc.send("stop")
    if (proc === servers.raw.proc) proc.kill()
  }
  const raw = median(samples[0].map((s) => s.rps))
  // A registration reads its body: the fair baseline for a POST is a raw server that reads one too.
  const rawPost = median(samples[1].map((s) => s.rps))
  report(
    "server",
    targets.map((t, j) => ({
      target: t.name,
      req_per_s: Math.round(median(samples[j].map((s) => s.rps))),
      p50_ms: median(samples[j].map((s) => s.p50)),
      p99_ms: median(samples[j].map((s) => s.p99)),
      ratio_vs_raw: median(samples[j].map((s) => s.rps)) / raw,
      ratio_vs_raw_post: t.method === "POST" ? median(samples[j].map((s) => s.rps)) / rawPost : "",
      errors: samples[j].reduce((n, s) => n + s.errors, 0)
    })),
    {
      rounds: ROUNDS,
      duration_s: DURATION,
      connections: CONNECTIONS,
      aim: "ratio_vs_raw >= 0.6 for register and list (ratio_vs_raw: GET hello; ratio_vs_raw_post: POST that reads its body)",
      note: "medians over rounds; each server and the load generator run in separate processes"
    }
  )
}
