// What each kind of etcd request costs etcd itself (CPU of the 3 members, summed) and the etcd3 client, on a
// 3-member etcd 3.4 on loopback, at KEYS live keys in CLUSTERS clusters: the figures behind the etcd store's
// design (one lease per entry, totals kept by a watch, no counts on a request's path). Raw puts are the baseline.
// Env: KEYS=100000 CLUSTERS=1000 N=2000 (requests per measurement), INFLIGHT=64.
import { spawnSync } from "node:child_process"
import { loadavg } from "node:os"
import { report } from "./lib.mjs"
import { startEtcdCluster, usage } from "./ha-cluster.mjs"

const KEYS = Number(process.env.KEYS ?? 100_000)
const CLUSTERS = Number(process.env.CLUSTERS ?? 1000)
const N = Number(process.env.N ?? 2000)
const INFLIGHT = Number(process.env.INFLIGHT ?? 64)

if (spawnSync("etcd", ["--version"]).status !== 0) {
  console.warn("etcd-cost bench: `etcd` is not installed (apt-get install etcd-server etcd-client); SKIPPED")
  process.exit(0)
}
const loadBefore = loadavg()[0]
const etcd = await startEtcdCluster(3)
const { Etcd3 } = await import("etcd3")
const client = new Etcd3({ hosts: etcd.endpoints.map((e) => `http://${e}`) })
const pids = etcd.procs.map((p) => p.pid)
const tok = (c) => c.toString(16).padStart(32, "0")
const key = (i) => `swarm/${tok(i % CLUSTERS)}/10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:2375`

/** Runs `f(i)` n times, `inflight` at a time: rate, and CPU per request of the client and of etcd. */
const measure = async (f, n = N, inflight = INFLIGHT) => {
  let i = 0
  const e0 = pids.map(usage)
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  await Promise.all(
    Array.from({ length: Math.min(inflight, n) }, async () => {
      while (i < n) await f(i++)
    })
  )
  const seconds = (performance.now() - t0) / 1000
  const c = process.cpuUsage(c0)
  const etcdCpu = pids.map(usage).reduce((a, u, k) => a + u.cpu - e0[k].cpu, 0)
  return { rate: n / seconds, client: (c.user + c.system) / 1000 / n, etcd: (etcdCpu * 1000) / n }
}

const rows = []
/** Requests for the reads that walk every key: few when there are many keys. */
const slow = (keys) => (keys > 10_000 ? 20 : 500)
const row = (request, keys, m, note = "") =>
  rows.push({
    request,
    keys,
    per_s: Math.round(m.rate),
    etcd_cpu_ms: m.etcd,
    client_cpu_ms: m.client,
    note
  })
try {
  const all = { key: Buffer.from("swarm/"), range_end: Buffer.from("swarm0") }
  const leases = []
  const costs = async (keys) => {
    row(
      "put (new key)",
      keys,
      await measure((i) => client.put(`raw/${keys}/${i}`).value("x")),
      "the baseline"
    )
    const leaseObjects = []
    row(
      "lease grant",
      keys,
      await measure(async () => {
        const lease = client.lease(600, { autoKeepAlive: false })
        leases.push(await lease.grant())
        leaseObjects.push(lease)
      })
    )
    row(
      "create-or-read txn on a lease",
      keys,
      await measure((i) => {
        const k = Buffer.from(`txn/${keys}/${i}`)
        return client.kv.txn({
          compare: [{ key: k, target: "Version", result: "Equal", version: 0 }],
          success: [{ request_put: { key: k, value: Buffer.from("v"), lease: leases.pop() } }],
          failure: [{ request_range: { key: k } }]
        })
      }),
      "a new entry: this + a grant"
    )
    row(
      "lease keep-alive",
      keys,
      await measure((i) => leaseObjects[i].keepaliveOnce()),
      "a heartbeat when nothing was written since (here a stream per call)"
    )
    row(
      "one-key read (linearizable)",
      keys,
      await measure((i) => client.kv.range({ key: Buffer.from(key(i)) })),
      "a heartbeat after other writes: this + a keep-alive"
    )
    row(
      "count_only of one cluster",
      keys,
      await measure((i) =>
        client.kv.range({
          key: Buffer.from(`swarm/${tok(i % CLUSTERS)}/`),
          range_end: Buffer.from(`swarm/${tok(i % CLUSTERS)}0`),
          count_only: true,
          serializable: true
        })
      )
    )
    row(
      "count_only of every key",
      keys,
      await measure(() => client.kv.range({ ...all, count_only: true, serializable: true }), slow(keys), 1),
      "etcd 3.4 walks the range"
    )
    row(
      "limit 1 read from the middle",
      keys,
      await measure(
        () =>
          client.kv.range({
            key: Buffer.from(`swarm/${tok(CLUSTERS / 2)}/`),
            range_end: all.range_end,
            limit: 1,
            keys_only: true,
            serializable: true
          }),
        slow(keys),
        1
      ),
      "one step of a skip scan over clusters"
    )
  }
  // A first pass warms the JIT and the connections up; its figures are not kept.
  await costs(-1)
  rows.length = 0
  await costs(0)
  for (let i = 0; i < KEYS;) {
    const batch = Math.min(KEYS - i, 5000)
    await measure((j) => client.put(key(i + j)).value("x"), batch, 128)
    i += batch
  }
  await costs(KEYS)
  report("etcd-cost", rows, {
    load: `loadavg before ${loadBefore.toFixed(2)}, after ${loadavg()[0].toFixed(2)} (2 cores, shared)`,
    setup: `3-member etcd 3.4 on loopback; ${INFLIGHT} in flight; etcd CPU is the 3 members' sum`
  })
} finally {
  client.close()
  await etcd.stop()
}
