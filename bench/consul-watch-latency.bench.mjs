// Watch latency over Consul's HTTP API, from a registration (a TTL put by one store) to the watcher's snapshot that
// holds it (another store), p50/p99, and the put's own latency (until the writer has its answer), against the
// in-process double (test/support/consulDouble.ts, loaded with tsx; CI has no Consul). Baseline, same run and same
// double: a raw node:http client doing the same (session renew, acquire put; a blocking-query loop
// `?recurse&index=N`, JSON and base64 decoded). Samples alternate store/raw; each sample's key is deleted (untimed)
// before the next, over BACKGROUND steady members.
// Run after `npm run build` (npm run bench does it).   SAMPLES=200 node bench/consul-watch-latency.bench.mjs
// DOUBLE=process runs the double in a child process, as a real agent would be: client and agent then use a core
// each, where in-process they share one (CPU per request turns into latency one to one).
// OLD_CONSUL=/path/to/other/dist/esm/KvStore/Consul.js adds that build of the store as a third target (say, one built
// from an earlier commit in a worktree), measured in the same run.
import { spawn } from "node:child_process"
import { Agent, request } from "node:http"
import { Effect, Exit, Scope, Stream } from "effect"
import { tsImport } from "tsx/esm/api"
import { observer, percentile, report } from "./lib.mjs"

const SAMPLES = Number(process.env.SAMPLES ?? 200)
const WARMUP = 20
const BACKGROUND = 10

const { startConsulDouble } = await tsImport("../test/support/consulDouble.ts", import.meta.url)
const Consul = await import("../dist/esm/KvStore/Consul.js")
const stores = [{ name: "KvStore/Consul", Consul, prefix: "bench/store/" }]
if (process.env.OLD_CONSUL) {
  stores.push({
    name: "KvStore/Consul (OLD_CONSUL)",
    Consul: await import(process.env.OLD_CONSUL),
    prefix: "bench/old/"
  })
}

/** [watch latency, the put's own latency]: a watcher may hear of the write before the writer has its answer. */
const sample = async (target, key) => {
  const t0 = performance.now()
  await target.put(key)
  const answered = performance.now()
  const seen = await target.watch.until((keys) => keys.includes(key))
  await target.del(key)
  await target.watch.until((keys) => !keys.includes(key))
  return [seen - t0, answered - t0]
}

/** The double in this process, or in a child (DOUBLE=process) that prints its address and runs until stdin ends. */
const startDouble = async () => {
  if (process.env.DOUBLE !== "process") return startConsulDouble()
  const child = spawn(process.execPath, ["--import", "tsx", "-e", CHILD], {
    stdio: ["pipe", "pipe", "inherit"]
  })
  const address = await new Promise((resolve, reject) => {
    child.stdout.once("data", (chunk) => resolve(chunk.toString().trim()))
    child.once("exit", (code) => reject(new Error(`the Consul double exited with ${code}`)))
  })
  return {
    address,
    url: `http://${address}`,
    close: () => new Promise((resolve) => (child.once("exit", resolve), child.stdin.end()))
  }
}
const CHILD = `
  const { startConsulDouble } = await import(${JSON.stringify(new URL("../test/support/consulDouble.ts", import.meta.url).href)})
  const double = await startConsulDouble()
  process.stdout.write(double.address + "\\n")
  process.stdin.resume()
  process.stdin.on("end", () => double.close().then(() => process.exit(0)))
`

const double = await startDouble()
const scope = Effect.runSync(Scope.make())
const targets = []
try {
  // The store (and the old build, when given).
  for (const { name, Consul, prefix } of stores) {
    const make = () => Effect.runPromise(Consul.make({ address: double.address }).pipe(Scope.extend(scope)))
    const writer = await make()
    const reader = await make()
    for (let i = 0; i < BACKGROUND; i++)
      await Effect.runPromise(writer.put(`${prefix}bg${i}`, "x", { ttl: "60 seconds" }))
    const watch = observer()
    // Forked into the scope, so closing it stops the watch.
    Effect.runSync(
      reader.watch(prefix).pipe(
        Stream.runForEach((s) =>
          Effect.sync(() => watch.push(s.pairs.map((p) => p.key.slice(prefix.length))))
        ),
        Effect.forkIn(scope)
      )
    )
    await watch.until((keys) => keys.length === BACKGROUND)
    targets.push({
      name,
      put: (key) => Effect.runPromise(writer.put(prefix + key, key, { ttl: "60 seconds" })),
      del: (key) => Effect.runPromise(writer.delete(prefix + key)),
      watch
    })
  }
  // Raw node:http, kept-alive sockets.
  {
    const prefix = "bench/raw/"
    const agent = new Agent({ keepAlive: true })
    const http = (method, path, body) =>
      new Promise((resolve, reject) => {
        const req = request(`${double.url}${path}`, { method, agent }, (res) => {
          const chunks = []
          res.on("data", (c) => chunks.push(c))
          res.on("end", () =>
            resolve({
              status: res.statusCode,
              index: Number(res.headers["x-consul-index"]),
              body: Buffer.concat(chunks).toString()
            })
          )
        })
        req.on("error", reject)
        req.end(body)
      })
    const session = JSON.parse(
      (
        await http(
          "PUT",
          "/v1/session/create",
          JSON.stringify({ TTL: "30s", Behavior: "delete", LockDelay: "0s" })
        )
      ).body
    ).ID
    const put = (key) => http("PUT", `/v1/kv/${prefix}${key}?acquire=${session}`, key)
    for (let i = 0; i < BACKGROUND; i++) await put(`bg${i}`)
    const watch = observer()
    let running = true
    ;(async () => {
      let index = 0
      while (running) {
        const reply = await http("GET", `/v1/kv/${prefix}?recurse${index ? `&index=${index}&wait=30s` : ""}`)
        if (!running) break
        if (reply.index === index) continue
        index = reply.index
        const entries = reply.status === 404 ? [] : JSON.parse(reply.body)
        watch.push(
          entries.map((e) => (Buffer.from(e.Value ?? "", "base64").toString(), e.Key.slice(prefix.length)))
        )
      }
    })().catch(() => {})
    await watch.until((keys) => keys.length === BACKGROUND)
    targets.push({
      name: "raw node:http",
      put: (key) => http("PUT", `/v1/session/renew/${session}`).then(() => put(key)),
      del: (key) => http("DELETE", `/v1/kv/${prefix}${key}`),
      watch,
      stop: () => ((running = false), agent.destroy())
    })
  }
  const times = Object.fromEntries(targets.map((t) => [t.name, []]))
  const puts = Object.fromEntries(targets.map((t) => [t.name, []]))
  for (let i = 0; i < WARMUP + SAMPLES; i++) {
    for (const t of i % 2 === 0 ? targets : [...targets].reverse()) {
      const [ms, putMs] = await sample(t, `s${i}`)
      if (i >= WARMUP) (times[t.name].push(ms), puts[t.name].push(putMs))
    }
  }
  const base = times["raw node:http"]
  const rows = Object.entries(times).map(([target, xs]) => ({
    target,
    p50_ms: percentile(xs, 50),
    p99_ms: percentile(xs, 99),
    p50_vs_raw: percentile(xs, 50) / percentile(base, 50),
    p99_vs_raw: percentile(xs, 99) / percentile(base, 99),
    put_p50_ms: percentile(puts[target], 50),
    put_p50_vs_raw: percentile(puts[target], 50) / percentile(puts["raw node:http"], 50)
  }))
  report("consul-watch-latency", rows, {
    samples: SAMPLES,
    background_members: BACKGROUND,
    server: process.env.DOUBLE === "process" ? "double in a child process" : "in-process double"
  })
} finally {
  for (const t of targets) t.stop?.()
  await Effect.runPromise(Scope.close(scope, Exit.void))
  await double.close()
}
