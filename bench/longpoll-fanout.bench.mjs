// Long-poll fan-out: N clients long-poll one cluster, one registration wakes them all. Measured: the time from the
// registration's acknowledgement (its 200 reaching the client) to the last long-poll answer, and the server's
// memory per waiting long-poll (heap + external after GC, and RSS). Baseline in the same run: raw node:http holding
// N requests and answering them all in one loop with one prebuilt body (what Node itself costs).
// Server (SQLite store, the default) and load each run in their own process; a fresh server per measurement.
//   ROUNDS=3 SIZES=1000,5000,10000 node bench/longpoll-fanout.bench.mjs
// Needs ulimit -n above the largest size (each side holds one socket per waiter); connections come from several
// loopback source addresses (127.0.0.2-9) so repeated runs do not run out of ephemeral ports.
// The file is also its own child: `--serve raw|ours` starts a server, `--load port size` runs the clients.
import { fork } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { createServer } from "node:http"
import { connect } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { median, report } from "./lib.mjs"

const ROUNDS = Number(process.env.ROUNDS ?? 3)
const SIZES = (process.env.SIZES ?? "1000,5000,10000").split(",").map(Number)
const TOKEN = "0123456789abcdef0123456789abcdef"
const SOURCES = 8

const [mode, ...args] = process.argv.slice(2)

const memory = () => {
  globalThis.gc()
  const m = process.memoryUsage()
  return { heap: m.heapUsed + m.external + m.arrayBuffers, rss: m.rss }
}

if (mode === "--serve") {
  const kind = args[0]
  let waiting = () => 0
  let stop = async () => {}
  let port
  if (kind === "raw") {
    // Holds every GET; a POST answers 200, then answers all held requests with one body, in one loop.
    const held = []
    const server = createServer((req, res) => {
      if (req.method === "GET" && !req.url.includes("index=")) {
        res.writeHead(200, {
          "content-type": "application/json",
          "content-length": 2,
          "x-discovery-index": "1"
        })
        return void res.end("[]")
      }
      if (req.method !== "POST") return void held.push(res)
      req.resume()
      req.on("end", () => {
        res.writeHead(200, { "content-type": "text/plain", "content-length": 2 })
        res.end("OK")
        const body = Buffer.from(JSON.stringify(["10.0.0.1:2375"]))
        for (const r of held.splice(0)) {
          r.writeHead(200, {
            "content-type": "application/json",
            "content-length": body.length,
            "x-discovery-index": "2"
          })
          r.end(body)
        }
      })
    })
    server.requestTimeout = 0
    await new Promise((resolve) => server.listen(0, "0.0.0.0", resolve))
    port = server.address().port
    waiting = () => held.length
  } else {
    const { Effect, Exit, Scope } = await import("effect")
    const Server = await import("../dist/esm/Server/Server.js")
    const Sqlite = await import("../dist/esm/KvStore/Sqlite.js")
    const scope = Effect.runSync(Scope.make())
    const dir = mkdtempSync(join(tmpdir(), "swarm-fanout-"))
    const store = await Effect.runPromise(
      Sqlite.make({ filename: join(dir, "bench.db") }).pipe(Scope.extend(scope))
    )
    const listening = await Effect.runPromise(
      Server.listen({
        host: "0.0.0.0",
        port: 0,
        store,
        stats: store.stats,
        early: { store: store.early, whenDurable: store.whenDurable },
        // Above the largest size: the bench measures fan-out, not the bounds.
        maxConnections: 50_000,
        maxLongPolls: 50_000,
        maxLongPollsPerClient: 50_000
      }).pipe(Scope.extend(scope))
    )
    port = listening.port
    const metrics = listening.handler.metrics
    waiting = () => Number(/^swarm_discovery_watchers ([0-9]+)$/m.exec(metrics.render(undefined))?.[1] ?? 0)
    stop = async () => {
      await Effect.runPromise(Scope.close(scope, Exit.void))
      rmSync(dir, { recursive: true, force: true })
    }
  }
  const before = memory()
  process.on("message", async (m) => {
    if (m === "waiting") process.send({ waiting: waiting() })
    if (m === "memory") process.send({ before, after: memory() })
    if (m === "stop") {
      await stop()
      process.exit(0)
    }
  })
  process.send({ port })
} else if (mode === "--load") {
  const port = Number(args[0])
  const size = Number(args[1])
  // The cluster's current index: the long-polls wait for it to change.
  const get = (path, method = "GET", body = "") =>
    new Promise((resolve, reject) => {
      const socket = connect({ host: "127.0.0.1", port })
      let text = ""
      socket.on("data", (c) => {
        text += c.toString("latin1")
        const end = text.indexOf("\r\n\r\n")
        const length = /content-length: *([0-9]+)/i.exec(text)
        if (end >= 0 && length && text.length >= end + 4 + Number(length[1])) {
          socket.destroy()
          resolve(text)
        }
      })
      socket.on("error", reject)
      socket.write(
        `${method} ${path} HTTP/1.1\r\nHost: bench\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`
      )
    })
  const first = await get(`/v1/clusters/${TOKEN}`)
  const index = /x-discovery-index: *([0-9]+)/i.exec(first)?.[1] ?? "0"
  const request = `GET /v1/clusters/${TOKEN}?index=${index}&wait=120s HTTP/1.1\r\nHost: bench\r\n\r\n`
  let answered = 0
  let last = 0
  let failed = 0
  let settle
  const allAnswered = new Promise((resolve) => (settle = resolve))
  const sockets = []
  let connected = 0
  await new Promise((resolve) => {
    const open = (i) => {
      const socket = connect({ host: "127.0.0.1", port, localAddress: `127.0.0.${2 + (i % SOURCES)}` })
      let seen = false
      socket.on("connect", () => {
        socket.write(request)
        if (++connected === size) resolve()
      })
      socket.on("data", (chunk) => {
        if (seen) return
        seen = true
        if (!chunk.toString("latin1", 0, 12).includes(" 200")) failed++
        last = performance.now()
        if (++answered === size) settle()
      })
      socket.on("error", () => {
        failed++
        if (!seen && ++answered === size) settle()
      })
      sockets.push(socket)
    }
    // Connect in slices, so the listen backlog is never the bottleneck.
    let i = 0
    const more = () => {
      for (const end = Math.min(size, i + 500); i < end; i++) open(i)
      if (i < size) setTimeout(more, 5)
    }
    more()
  })
  process.send({ connected: true })
  await new Promise((resolve) => process.once("message", resolve))
  const sent = performance.now()
  await get(`/v1/clusters/${TOKEN}?ttl=600`, "POST", "10.0.0.1:2375")
  const acked = performance.now()
  await allAnswered
  for (const s of sockets) s.destroy()
  process.send({ ackToLast: last - acked, sentToLast: last - sent, failed, early: answered })
  process.exit(0)
} else {
  const child = (argv, execArgv = []) => fork(new URL(import.meta.url).pathname, argv, { execArgv })
  const next = (proc) => new Promise((resolve) => proc.once("message", resolve))
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

  const measure = async (kind, size) => {
    const server = child(["--serve", kind], ["--expose-gc"])
    const { port } = await next(server)
    const load = child(["--load", String(port), String(size)])
    await next(load)
    // Every request must have reached the server and be waiting.
    for (let tries = 0; ; tries++) {
      server.send("waiting")
      const { waiting } = await next(server)
      if (waiting >= size) break
      if (tries > 600) throw new Error(`${kind}: only ${waiting} of ${size} long-polls waiting`)
      await sleep(50)
    }
    server.send("memory")
    const { before, after } = await next(server)
    load.send("go")
    const result = await next(load)
    server.send("stop")
    await new Promise((resolve) => server.once("exit", resolve))
    return {
      ...result,
      heapPerWaiter: (after.heap - before.heap) / size,
      rssPerWaiter: (after.rss - before.rss) / size
    }
  }

  const rows = []
  for (const size of SIZES) {
    const runs = { raw: [], ours: [] }
    for (let round = 0; round < ROUNDS; round++) {
      // Interleaved, so machine load hits both alike.
      for (const kind of ["raw", "ours"]) runs[kind].push(await measure(kind, size))
    }
    const ms = (k, field) => median(runs[k].map((r) => r[field]))
    for (const kind of ["raw", "ours"]) {
      rows.push({
        waiters: size,
        server: kind === "raw" ? "raw node:http (baseline)" : "swarm serve (sqlite)",
        "ack→last ms (median)": ms(kind, "ackToLast"),
        "post→last ms": ms(kind, "sentToLast"),
        "vs raw": kind === "raw" ? 1 : ms("ours", "sentToLast") / ms("raw", "sentToLast"),
        "heap+ext KB/waiter": ms(kind, "heapPerWaiter") / 1024,
        "RSS KB/waiter": ms(kind, "rssPerWaiter") / 1024,
        failed: Math.max(...runs[kind].map((r) => r.failed))
      })
    }
  }
  report("longpoll-fanout", rows, {
    rounds: ROUNDS,
    "ack→last":
      "from the registration's 200 reaching its client to the last long-poll answer reaching its client",
    memory:
      "server process, after GC, all waiters waiting minus before any connection; RSS includes the kernel-side socket buffers only as far as they count in RSS"
  })
}
