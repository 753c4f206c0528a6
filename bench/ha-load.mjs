// Load processes of the HA scale bench (forked by ha-scale.bench.mjs, one IPC message back when done):
//   fill ORIGINS ENTRIES CLUSTERS INFLIGHT TTL LIMIT_S HEARTBEAT_S   new entries, round-robin over the instances;
//                                                    each registered entry refreshed every HEARTBEAT_S meanwhile
//   hold ORIGINS ENTRIES CLUSTERS TTL HEARTBEAT_S SECONDS   every entry refreshed once per heartbeat, evenly spread
//   raw ENDPOINTS INFLIGHT SECONDS                           etcd3 puts of new keys (the baseline)
//   warm ORIGINS COUNT CLUSTERS INFLIGHT    COUNT new entries in 100 clusters after the first CLUSTERS, then
//                                           all deleted: the figures of instances that have just started
// Every request's latency is kept; failures keep their time (ms since the epoch) and status.
import { Agent, request } from "node:http"
import { percentile } from "./lib.mjs"

export const tokenOf = (c) => c.toString(16).padStart(32, "0")
export const addressOf = (i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:2375`

// Idle sockets close before the server's 5s keep-alive timeout would, so no request races a closing socket.
const agent = new Agent({ keepAlive: true, maxSockets: 256, timeout: 4000 })

export const call = (origin, method, path, body) =>
  new Promise((resolve) => {
    const req = request(origin + path, { method, agent, timeout: 30_000 }, (res) => {
      let text = ""
      res.setEncoding("utf8")
      res.on("data", (c) => (text += c))
      res.on("end", () => resolve({ status: res.statusCode, body: text }))
    })
    req.on("timeout", () => req.destroy(new Error("timeout")))
    req.on("error", (error) => resolve({ status: 0, body: error.message }))
    req.end(body)
  })

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** Latencies and outcomes of a run. */
const recorder = () => {
  const latencies = []
  const failures = []
  const statuses = {}
  return {
    async timed(origin, i, ttl) {
      const start = performance.now()
      const r = await call(origin, "POST", `/v1/clusters/${tokenOf(i % CLUSTERS)}?ttl=${ttl}`, addressOf(i))
      latencies.push(performance.now() - start)
      statuses[r.status] = (statuses[r.status] ?? 0) + 1
      if (r.status !== 200 && failures.length < 5000)
        failures.push({ at: Date.now(), status: r.status, body: r.body.slice(0, 200) })
    },
    summary: (seconds) => ({
      requests: latencies.length,
      rate: latencies.length / seconds,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      max: percentile(latencies, 100),
      statuses,
      failures
    })
  }
}

const [mode, ...args] = process.argv.slice(2)
const CLUSTERS = mode === "raw" ? 1 : Number(args[2])

if (mode === "fill") {
  const [origins, entries, , inflight, ttl, limit, heartbeat] = [
    args[0].split(","),
    ...args.slice(1).map(Number)
  ]
  const rec = recorder()
  // Registered entries heart-beat meanwhile (a fill longer than the TTL would otherwise expire its first
  // entries); those refreshes are counted apart from the fill's figures.
  const beats = recorder()
  // Entries in the order of their last registration or refresh (times only grow, so it stays sorted).
  const queue = []
  let head = 0
  let filling = true
  const beating = (async () => {
    while (filling) {
      const due = Date.now() - heartbeat * 1000
      for (; head < queue.length && queue[head].at <= due; head++) {
        const k = queue[head].i
        queue.push({ i: k, at: Date.now() })
        void beats.timed(origins[k % origins.length], k, ttl)
      }
      await sleep(200)
    }
  })()
  const started = performance.now()
  const deadline = Date.now() + limit * 1000
  let next = 0
  await Promise.all(
    Array.from({ length: inflight }, async () => {
      while (next < entries && Date.now() < deadline) {
        const i = next++
        await rec.timed(origins[i % origins.length], i, ttl)
        queue.push({ i, at: Date.now() })
      }
    })
  )
  filling = false
  await beating
  const fillBeats = beats.summary(1)
  process.send({
    ...rec.summary((performance.now() - started) / 1000),
    registered: next,
    beats: { requests: fillBeats.requests, statuses: fillBeats.statuses }
  })
} else if (mode === "hold") {
  const [origins, entries, , ttl, heartbeat, seconds] = [args[0].split(","), ...args.slice(1).map(Number)]
  const rec = recorder()
  const started = Date.now()
  let sent = 0
  let inflight = 0
  let lagged = 0
  // Entry i refreshes at i/entries of each heartbeat period, alternating instances by period.
  while (Date.now() - started < seconds * 1000) {
    const due = Math.floor(((Date.now() - started) / (heartbeat * 1000)) * entries)
    for (; sent < due; sent++) {
      if (inflight >= 512) {
        lagged++
        break
      }
      const i = sent % entries
      const period = Math.floor(sent / entries)
      inflight++
      void rec.timed(origins[(i + period) % origins.length], i, ttl).then(() => inflight--)
    }
    process.send?.({ progress: sent })
    await sleep(50)
  }
  while (inflight > 0) await sleep(50)
  process.send({ ...rec.summary(seconds), lagged })
} else if (mode === "warm") {
  const [origins, count, clusters, inflight] = [args[0].split(","), ...args.slice(1).map(Number)]
  const latencies = []
  const statuses = {}
  const each = async (method) => {
    let next = 0
    await Promise.all(
      Array.from({ length: inflight }, async () => {
        while (next < count) {
          const i = next++
          const path = `/v1/clusters/${tokenOf(clusters + (i % 100))}`
          const start = performance.now()
          const r = await call(
            origins[i % origins.length],
            method,
            method === "POST" ? `${path}?ttl=60` : `${path}/${encodeURIComponent(addressOf(i))}`,
            method === "POST" ? addressOf(i) : undefined
          )
          if (method === "POST") latencies.push(performance.now() - start)
          statuses[`${method} ${r.status}`] = (statuses[`${method} ${r.status}`] ?? 0) + 1
        }
      })
    )
  }
  const started = performance.now()
  await each("POST")
  const seconds = (performance.now() - started) / 1000
  await each("DELETE")
  process.send({
    requests: latencies.length,
    rate: latencies.length / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    statuses
  })
} else if (mode === "raw") {
  const [endpoints, inflight, seconds] = [args[0].split(","), Number(args[1]), Number(args[2])]
  const { Etcd3 } = await import("etcd3")
  const client = new Etcd3({ hosts: endpoints.map((e) => `http://${e}`) })
  const latencies = []
  let n = 0
  const started = performance.now()
  const deadline = Date.now() + seconds * 1000
  await Promise.all(
    Array.from({ length: inflight }, async () => {
      while (Date.now() < deadline) {
        const key = `raw/${tokenOf(n % 1000)}/${addressOf(n++)}`
        const start = performance.now()
        await client.put(key).value(key)
        latencies.push(performance.now() - start)
      }
    })
  )
  const elapsed = (performance.now() - started) / 1000
  await client.delete().prefix("raw/")
  client.close()
  process.send({
    requests: latencies.length,
    rate: latencies.length / elapsed,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99)
  })
}
