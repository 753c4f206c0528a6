// Scale: 100,000 live entries over 1,000 clusters, 10s TTL, churning, against a real `swarm serve`
// (SQLite store). Two load processes refresh every entry about every 7s and replace ~5% of the
// addresses each cycle (the old ones stop refreshing and expire); they pipeline HTTP/1.1 requests on
// raw sockets, so that the load generator does not eat the CPU the server needs. Reported: live entries, server RSS,
// list latency (GET of a 100-entry cluster while all that runs), expirations and the time the store
// spent on them, and the server's CPU. Run after `npm run build`. CHURN_SECONDS=30 node bench/scale.bench.mjs
// The file is also its own load process: `--load <first cluster> <clusters> <origin> <seconds>`.
import { fork, spawn } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { Agent, request } from "node:http"
import { connect, createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { percentile, report } from "./lib.mjs"

const CLUSTERS = Number(process.env.CLUSTERS ?? 1000)
const PER_CLUSTER = Number(process.env.PER_CLUSTER ?? 100)
const TTL = 10
const HEARTBEAT_MS = 7000
const CHURN = 0.05
const CHURN_SECONDS = Number(process.env.CHURN_SECONDS ?? 30)
const WORKERS = 2

const tokenOf = (c) => c.toString(16).padStart(32, "0")
const addressOf = (c, i, generation) => `10.${c >> 8}.${c & 255}.${i + 1}:${2000 + generation}`

const agent = new Agent({ keepAlive: true, maxSockets: 48 })
const call = (origin, method, path, body) =>
  new Promise((resolve, reject) => {
    const req = request(origin + path, { method, agent }, (res) => {
      let text = ""
      res.setEncoding("utf8")
      res.on("data", (c) => (text += c))
      res.on("end", () => resolve({ status: res.statusCode, body: text }))
    })
    req.on("error", reject)
    req.end(body)
  })

/** Runs `jobs` with at most `limit` in flight. */
const pool = async (jobs, limit) => {
  let next = 0
  const run = async () => {
    while (next < jobs.length) await jobs[next++]()
  }
  await Promise.all(Array.from({ length: limit }, run))
}

const [mode, ...args] = process.argv.slice(2)

if (mode === "--load") {
  const [first, count, origin, seconds] = [Number(args[0]), Number(args[1]), args[2], Number(args[3])]
  const { hostname, port } = new URL(origin)
  // generation[c][i]: which address entry i of cluster c currently uses (a new one = churn).
  const generation = Array.from({ length: count }, () => new Array(PER_CLUSTER).fill(0))
  let sent = 0
  let failed = 0
  // HTTP/1.1 pipelining on a few raw sockets: a load generator this cheap leaves the CPU to the server.
  const SOCKETS = 16
  const sockets = await Promise.all(
    Array.from(
      { length: SOCKETS },
      () =>
        new Promise((resolve, reject) => {
          const socket = connect({ host: hostname, port: Number(port) }, () => resolve(socket))
          socket.on("error", reject)
          socket.setNoDelay(true)
        })
    )
  )
  /** Sends `requests` pipelined on one socket; resolves once every answer is in. */
  const pipeline = (socket, requests) =>
    new Promise((resolve) => {
      let answers = 0
      let tail = ""
      const onData = (chunk) => {
        const text = tail + chunk.toString("latin1")
        let at = 0
        for (let i = text.indexOf("HTTP/1.1 ", at); i >= 0; i = text.indexOf("HTTP/1.1 ", at)) {
          if (text.length < i + 12) break
          if (text.slice(i + 9, i + 12) !== "200") failed++
          answers++
          at = i + 12
        }
        tail = text.slice(Math.max(at, text.length - 12))
        if (answers >= requests.length) {
          socket.off("data", onData)
          resolve()
        }
      }
      socket.on("data", onData)
      socket.write(requests.join(""))
      sent += requests.length
    })
  const requestFor = (c, i) => {
    const body = addressOf(first + c, i, generation[c][i])
    return `POST /v1/clusters/${tokenOf(first + c)}?ttl=${TTL} HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`
  }
  /** One refresh of every entry, in slices of 20 requests per socket. */
  const cycle = async () => {
    const all = generation.flatMap((row, c) => row.map((_, i) => requestFor(c, i)))
    const slices = []
    for (let i = 0; i < all.length; i += 20) slices.push(all.slice(i, i + 20))
    let next = 0
    await Promise.all(
      sockets.map(async (socket) => {
        while (next < slices.length) await pipeline(socket, slices[next++])
      })
    )
  }
  // Fill, then tell the parent, then churn until the time is up.
  await cycle()
  process.send({ filled: true })
  const deadline = Date.now() + seconds * 1000
  let cycles = 0
  const started = Date.now()
  const sentBefore = sent
  while (Date.now() < deadline) {
    const cycleStart = Date.now()
    for (const row of generation) for (let i = 0; i < row.length; i++) if (Math.random() < CHURN) row[i]++
    await cycle()
    cycles++
    const rest = HEARTBEAT_MS - (Date.now() - cycleStart)
    if (rest > 0 && Date.now() + rest < deadline) await new Promise((r) => setTimeout(r, rest))
  }
  process.send({ done: true, cycles, failed, rate: (sent - sentBefore) / ((Date.now() - started) / 1000) })
  for (const socket of sockets) socket.destroy()
} else {
  const BIN = "dist/swarm.cjs"
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run npm run build first`)
  const port = await new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
  const origin = `http://127.0.0.1:${port}`
  const dir = mkdtempSync(join(tmpdir(), "swarm-scale-bench-"))
  const server = spawn(
    process.execPath,
    [BIN, "serve", "--listen", `127.0.0.1:${port}`, "--data-dir", dir, "--min-ttl", "1s"],
    { stdio: ["ignore", "ignore", "pipe"] }
  )
  let stderr = ""
  server.stderr.on("data", (c) => (stderr += c))
  for (let i = 0; !stderr.includes("npx swarm list"); i++) {
    if (i > 300 || server.exitCode !== null) throw new Error(`serve did not start: ${stderr}`)
    await new Promise((r) => setTimeout(r, 50))
  }
  const rssMb = () =>
    Number(/VmRSS:\s+([0-9]+)/.exec(readFileSync(`/proc/${server.pid}/status`, "utf8"))[1]) / 1024
  const cpuSeconds = () => {
    const fields = readFileSync(`/proc/${server.pid}/stat`, "utf8").split(") ")[1].split(" ")
    return (Number(fields[11]) + Number(fields[12])) / 100 // utime + stime, in clock ticks of 1/100 s
  }
  const metric = async (name) => {
    const body = (await call(origin, "GET", "/metrics")).body
    return Number(new RegExp(`^${name} ([0-9.e+-]+)$`, "m").exec(body)?.[1] ?? NaN)
  }

  try {
    const fillStart = Date.now()
    const per = CLUSTERS / WORKERS
    const workers = Array.from({ length: WORKERS }, (_, w) =>
      fork(new URL(import.meta.url).pathname, [
        "--load",
        String(w * per),
        String(per),
        origin,
        String(CHURN_SECONDS)
      ])
    )
    const messages = workers.map((w) => {
      const inbox = []
      w.on("message", (m) => inbox.push(m))
      return inbox
    })
    const waitFor = async (key) => {
      while (!messages.every((inbox) => inbox.some((m) => m[key])))
        await new Promise((r) => setTimeout(r, 100))
    }
    await waitFor("filled")
    const fillSeconds = (Date.now() - fillStart) / 1000

    const cpu0 = cpuSeconds()
    const expiry0 = await metric("swarm_discovery_expiry_seconds_total")
    const expired0 = await metric("swarm_discovery_expirations_total")
    const t0 = Date.now()
    const entries = []
    const rss = []
    const listMs = []
    while (!messages.every((inbox) => inbox.some((m) => m.done))) {
      entries.push(await metric("swarm_discovery_entries"))
      rss.push(rssMb())
      for (let i = 0; i < 20; i++) {
        const token = tokenOf(Math.floor(Math.random() * CLUSTERS))
        const start = performance.now()
        const r = await call(origin, "GET", `/v1/clusters/${token}`)
        listMs.push(performance.now() - start)
        if (r.status !== 200) throw new Error(`list: ${r.status}`)
      }
      await new Promise((r) => setTimeout(r, 1000))
    }
    const seconds = (Date.now() - t0) / 1000
    const cpu = cpuSeconds() - cpu0
    const expiry = (await metric("swarm_discovery_expiry_seconds_total")) - expiry0
    const expired = (await metric("swarm_discovery_expirations_total")) - expired0
    const done = messages.map((inbox) => inbox.find((m) => m.done))
    const settled = entries.slice(Math.floor(entries.length / 3))
    report(
      "scale",
      [
        {
          clusters: CLUSTERS,
          target_entries: CLUSTERS * PER_CLUSTER,
          live_entries_median: percentile(settled, 50),
          live_entries_min: Math.min(...settled),
          rss_mb_max: Math.round(Math.max(...rss)),
          list_p50_ms: percentile(listMs, 50),
          list_p99_ms: percentile(listMs, 99),
          registrations_per_s: Math.round(done.reduce((n, d) => n + d.rate, 0)),
          failed_registrations: done.reduce((n, d) => n + d.failed, 0),
          expirations_per_s: Math.round(expired / seconds),
          expiry_cpu_s: expiry,
          expiry_share_of_server_cpu: expiry / cpu,
          server_cpu_percent: Math.round((cpu / seconds) * 100)
        }
      ],
      {
        ttl_s: TTL,
        heartbeat_ms: HEARTBEAT_MS,
        churn_per_cycle: CHURN,
        churn_seconds: Math.round(seconds),
        fill_seconds: fillSeconds,
        note: "live entries include ~5% churned addresses waiting out their TTL; server CPU includes serving the registrations"
      }
    )
  } finally {
    server.kill("SIGTERM")
    await new Promise((r) => server.once("exit", r))
    agent.destroy()
    rmSync(dir, { recursive: true, force: true })
  }
}
