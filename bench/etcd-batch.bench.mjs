// What etcd spends per put when puts share a transaction, as the etcd store's leases shared by time commit them
// (src/internal/etcd/groupCommit.ts): single puts and lease grants (what one lease per entry costs a new entry)
// beside transactions of BATCH puts of new keys on one shared lease, and of puts moving existing keys to it (a
// heartbeat there). A 3-member etcd 3.4 on loopback; single calls at 64 in flight, transactions at 8 in flight;
// ROUNDS rounds. Each row: puts/s, and CPU per put of the client and of etcd (3 members summed); medians of rounds.
// Env: N=6000 (single calls per round) PUTS=12000 (puts in transactions per round) ROUNDS=2.
import { spawnSync } from "node:child_process"
import { loadavg } from "node:os"
import { median, report } from "./lib.mjs"
import { startEtcdCluster, usage } from "./ha-cluster.mjs"

const N = Number(process.env.N ?? 6000)
const PUTS = Number(process.env.PUTS ?? 12_000)
const ROUNDS = Number(process.env.ROUNDS ?? 2)

if (spawnSync("etcd", ["--version"]).status !== 0) {
  console.warn("etcd-batch bench: `etcd` is not installed (apt-get install etcd-server etcd-client); SKIPPED")
  process.exit(0)
}
const { Etcd3 } = await import("etcd3")

const loadBefore = loadavg()[0]
const etcd = await startEtcdCluster(3)
const pids = etcd.procs.map((p) => p.pid)
const client = new Etcd3({ hosts: etcd.endpoints.map((e) => `http://${e}`) })

/** `calls` calls of `f` at `inflight` in flight, each `per` puts: puts/s and CPU (ms) per put. */
const measure = async (calls, inflight, per, f) => {
  let i = 0
  const before = pids.map(usage)
  const cpu0 = process.cpuUsage()
  const started = performance.now()
  await Promise.all(
    Array.from({ length: inflight }, async () => {
      while (i < calls) await f(i++)
    })
  )
  const seconds = (performance.now() - started) / 1000
  const own = process.cpuUsage(cpu0)
  const etcdCpu = pids.map(usage).reduce((sum, u, k) => sum + u.cpu - before[k].cpu, 0)
  const puts = calls * per
  return {
    rate: puts / seconds,
    clientMs: (own.user + own.system) / 1000 / puts,
    etcdMs: (etcdCpu * 1000) / puts
  }
}

const keysOf = (round, batch, i) =>
  Array.from({ length: batch }, (_, j) => Buffer.from(`b${round}/${batch}/${i}/${j}/10.0.0.1:2375`))

const runs = new Map()
const note = (name, result) => runs.set(name, [...(runs.get(name) ?? []), result])
try {
  const shared = (await client.leaseClient.leaseGrant({ TTL: 600, ID: 0 })).ID
  for (let round = 0; round < ROUNDS; round++) {
    note("put (single)", await measure(N, 64, 1, (i) => client.put(`k${round}/${i}`).value("x")))
    note(
      "lease grant (single)",
      await measure(N, 64, 1, () => client.leaseClient.leaseGrant({ TTL: 600, ID: 0 }))
    )
    for (const batch of [8, 32, 64]) {
      const calls = Math.round(PUTS / batch)
      const txn = (i) =>
        client.kv.txn({
          compare: [],
          success: keysOf(round, batch, i).map((key) => ({
            request_put: { key, value: Buffer.from("10.0.0.1:2375"), lease: shared, prev_kv: true }
          })),
          failure: []
        })
      note(`txn of ${batch}: new keys`, await measure(calls, 8, batch, txn))
      note(`txn of ${batch}: keys put again`, await measure(calls, 8, batch, txn))
    }
  }
} finally {
  client.close()
  await etcd.stop()
}

const single = median(runs.get("put (single)").map((r) => r.etcdMs))
const rows = [...runs].map(([name, results]) => {
  const etcdMs = median(results.map((r) => r.etcdMs))
  return {
    request: name,
    "puts/s": median(results.map((r) => r.rate)),
    "client CPU ms/put": median(results.map((r) => r.clientMs)),
    "etcd CPU ms/put": etcdMs,
    "etcd CPU × single put": etcdMs / single
  }
})
report("etcd-batch", rows, {
  load: `loadavg before ${loadBefore.toFixed(2)}, after ${loadavg()[0].toFixed(2)} (2 cores, shared)`,
  config: JSON.stringify({ N, PUTS, ROUNDS })
})
