// What a heartbeat costs over etcd while the rest of the group writes: the etcd store (dist/esm) refreshing KEYS
// live entries, INFLIGHT in flight, while a raw etcd3 client puts CHURN new keys/s under the same prefix (other
// instances' new entries). Two stores in one run, on a 3-member etcd 3.4 on loopback:
//  - "watched": the totals watch runs (as in `swarm serve`), so a heartbeat whose key did not change is a keep-alive;
//  - "unwatched": no watch, so every heartbeat after another write also reads its key (the behaviour before).
// Each row: heartbeats/s, p50/p99, etcd CPU per heartbeat (3 members summed, churn included), this process's CPU per
// heartbeat, and etcd range requests per heartbeat (etcd_mvcc_range_total). Run after `npm run build`.
// Env: KEYS=10000 N=30000 (heartbeats per store) INFLIGHT=64 CHURN=200 ROUNDS=2.
import { spawnSync } from "node:child_process"
import { cpus, loadavg } from "node:os"
import { percentile, report } from "./lib.mjs"
import { startEtcdCluster, usage } from "./ha-cluster.mjs"

const KEYS = Number(process.env.KEYS ?? 10_000)
const N = Number(process.env.N ?? 30_000)
const INFLIGHT = Number(process.env.INFLIGHT ?? 64)
const CHURN = Number(process.env.CHURN ?? 200)
const ROUNDS = Number(process.env.ROUNDS ?? 2)

if (spawnSync("etcd", ["--version"]).status !== 0) {
  console.warn(
    "etcd-heartbeat bench: `etcd` is not installed (apt-get install etcd-server etcd-client); SKIPPED"
  )
  process.exit(0)
}
const { Effect, Scope, Exit } = await import("effect")
const Etcd = await import("../dist/esm/KvStore/Etcd.js")
const { Etcd3 } = await import("etcd3")

const loadBefore = loadavg()[0]
const etcd = await startEtcdCluster(3)
const pids = etcd.procs.map((p) => p.pid)
const raw = new Etcd3({ hosts: etcd.endpoints.map((e) => `http://${e}`) })
const scope = Effect.runSync(Scope.make())
const run = (effect) => Effect.runPromise(effect)
const key = (i) => `c${i % 100}/10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:2375`
const TTL = { ttl: "180 seconds" }

/** Range requests served, summed over the members (etcd's own counter). */
const ranges = async () => {
  let sum = 0
  for (const e of etcd.endpoints) {
    const text = await (await fetch(`http://${e}/metrics`)).text()
    sum += Number(/^etcd_mvcc_range_total (\S+)$/m.exec(text)?.[1] ?? NaN)
  }
  return sum
}

/** Puts CHURN new keys a second under the prefix until stopped: what other instances' new entries do. */
const churn = (prefix) => {
  let stop = false
  let i = 0
  const done = (async () => {
    const t0 = performance.now()
    while (!stop) {
      const due = Math.floor(((performance.now() - t0) / 1000) * CHURN)
      const batch = []
      for (; i < due; i++) batch.push(raw.put(`${prefix}/churn/${i}`).value("x"))
      await Promise.all(batch)
      await new Promise((r) => setTimeout(r, 5))
    }
  })()
  return async () => {
    stop = true
    await done
  }
}

const measure = async (name, watched) => {
  const prefix = `${name}-${Math.random().toString(36).slice(2, 8)}`
  const store = await run(Scope.extend(Etcd.make({ endpoints: etcd.endpoints, prefix }), scope))
  if (watched) await run(store.stats)
  for (let i = 0; i < KEYS; i += INFLIGHT)
    await Promise.all(
      Array.from({ length: Math.min(INFLIGHT, KEYS - i) }, (_, j) => run(store.put(key(i + j), "v", TTL)))
    )
  const stopChurn = churn(prefix)
  await new Promise((r) => setTimeout(r, 500))
  const latencies = []
  let next = 0
  const r0 = await ranges()
  const e0 = pids.map(usage)
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  await Promise.all(
    Array.from({ length: INFLIGHT }, async () => {
      while (next < N) {
        const i = next++
        const start = performance.now()
        const result = await run(store.put(key(i % KEYS), "v", TTL))
        if (result !== "updated") throw new Error(`a heartbeat answered ${result}`)
        latencies.push(performance.now() - start)
      }
    })
  )
  const seconds = (performance.now() - t0) / 1000
  const c = process.cpuUsage(c0)
  const etcdCpu = pids.map(usage).reduce((a, u, k) => a + u.cpu - e0[k].cpu, 0)
  const rangesPer = ((await ranges()) - r0) / N
  await stopChurn()
  return {
    store: name,
    heartbeats_per_s: Math.round(N / seconds),
    p50_ms: percentile(latencies, 50),
    p99_ms: percentile(latencies, 99),
    etcd_cpu_ms: (etcdCpu * 1000) / N,
    client_cpu_ms: (c.user + c.system) / 1000 / N,
    ranges_per_heartbeat: rangesPer
  }
}

const rows = []
try {
  for (let round = 0; round < ROUNDS; round++) {
    // Alternating order, so neither store always runs on a warmer (or more loaded) machine.
    const order = round % 2 === 0 ? [true, false] : [false, true]
    for (const watched of order)
      rows.push({ round, ...(await measure(watched ? "watched" : "unwatched", watched)) })
  }
  const median = (name, field) =>
    percentile(
      rows.filter((r) => r.store === name).map((r) => r[field]),
      50
    )
  for (const field of [
    "heartbeats_per_s",
    "p50_ms",
    "p99_ms",
    "etcd_cpu_ms",
    "client_cpu_ms",
    "ranges_per_heartbeat"
  ])
    rows.push({
      round: "median",
      store: `watched / unwatched: ${field}`,
      ratio: median("watched", field) / median("unwatched", field)
    })
  report("etcd-heartbeat", rows, {
    config: JSON.stringify({ KEYS, N, INFLIGHT, CHURN, ROUNDS }),
    load: `loadavg before ${loadBefore.toFixed(2)}, after ${loadavg()[0].toFixed(2)} (${cpus().length} cores, shared)`
  })
} finally {
  await run(Scope.close(scope, Exit.void))
  raw.close()
  await etcd.stop()
}
