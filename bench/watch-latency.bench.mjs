// Watch latency: from a registration's acknowledgement to a long-polling watcher holding the new entry,
// p50/p99 over 1000 events, against a real `swarm serve` process (SQLite store, the default). Events are
// sequential (one registration, wait until the watcher sees it, then the next), so this is latency, not
// queueing. Swarm classic's token watcher polls once per heartbeat: 60s by default.
// Run after `npm run build` (npm run bench does it). EVENTS=1000 node bench/watch-latency.bench.mjs
import { spawn } from "node:child_process"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { Agent, request } from "node:http"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { percentile, report } from "./lib.mjs"

const EVENTS = Number(process.env.EVENTS ?? 1000)
const BIN = "dist/swarm.cjs"
if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run npm run build first`)

const freePort = () =>
  new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })

const agent = new Agent({ keepAlive: true, maxSockets: 8 })
const call = (origin, method, path, body) =>
  new Promise((resolve, reject) => {
    const req = request(origin + path, { method, agent }, (res) => {
      let text = ""
      res.setEncoding("utf8")
      res.on("data", (c) => (text += c))
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: text }))
    })
    req.on("error", reject)
    req.end(body)
  })

const dir = mkdtempSync(join(tmpdir(), "swarm-watch-bench-"))
const port = await freePort()
const origin = `http://127.0.0.1:${port}`
const server = spawn(process.execPath, [BIN, "serve", "--listen", `127.0.0.1:${port}`, "--data-dir", dir], {
  stdio: ["ignore", "ignore", "pipe"]
})
let stderr = ""
server.stderr.on("data", (c) => (stderr += c))
for (let i = 0; !stderr.includes("npx swarm list"); i++) {
  if (i > 300 || server.exitCode !== null) throw new Error(`serve did not start: ${stderr}`)
  await new Promise((r) => setTimeout(r, 50))
}

try {
  const token = (await call(origin, "POST", "/v1/clusters")).body
  const cluster = `/v1/clusters/${token}`
  const address = (i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:2375`

  // The watcher: long-polls forever, noting when each address first shows up.
  const seen = new Map()
  let waiting
  let running = true
  const watcher = (async () => {
    let index = (await call(origin, "GET", cluster)).headers["x-discovery-index"]
    while (running) {
      const r = await call(origin, "GET", `${cluster}?index=${index}&wait=30s`)
      const now = performance.now()
      index = r.headers["x-discovery-index"]
      for (const a of JSON.parse(r.body)) if (!seen.has(a)) seen.set(a, now)
      waiting?.()
    }
  })()
  const until = (predicate) =>
    new Promise((resolve) => {
      const check = () => (predicate() ? resolve() : (waiting = check))
      check()
    })

  const fromAck = []
  const fromSend = []
  for (let i = 0; i < EVENTS + 20; i++) {
    const a = address(i)
    const sent = performance.now()
    const r = await call(origin, "POST", `${cluster}?ttl=600`, a)
    const acked = performance.now()
    if (r.status !== 200) throw new Error(`register ${a}: ${r.status} ${r.body}`)
    await until(() => seen.has(a))
    // The first 20 warm up the JIT and the connections.
    if (i >= 20) {
      fromAck.push(Math.max(0, seen.get(a) - acked))
      fromSend.push(seen.get(a) - sent)
    }
    // Keep the cluster small: drop an old entry (the watcher sees that too, unmeasured).
    if (i >= 10) await call(origin, "DELETE", `${cluster}/${encodeURIComponent(address(i - 10))}`)
  }
  running = false
  // A last change releases the watcher's pending long-poll.
  await call(origin, "DELETE", cluster)
  await watcher

  report(
    "watch-latency",
    [
      {
        measure: "ack → watcher has it",
        p50_ms: percentile(fromAck, 50),
        p99_ms: percentile(fromAck, 99),
        max_ms: Math.max(...fromAck)
      },
      {
        measure: "send → watcher has it",
        p50_ms: percentile(fromSend, 50),
        p99_ms: percentile(fromSend, 99),
        max_ms: Math.max(...fromSend)
      }
    ],
    {
      events: EVENTS,
      store: "sqlite (default), WAL, synchronous=normal",
      aim: "p99 under 50 ms (Swarm classic's token watch polls every heartbeat, 60 s by default)",
      note: "0 means the watcher had the entry before the registrar had its acknowledgement (both go out on the same commit)"
    }
  )
} finally {
  server.kill("SIGTERM")
  await new Promise((r) => server.once("exit", r))
  agent.destroy()
  rmSync(dir, { recursive: true, force: true })
}
