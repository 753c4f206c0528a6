// What etcd spends on a request sent to its leader and to a follower: lease keep-alives (one stream, as the etcd
// store sends them), and for contrast a put, a lease grant and a one-key linearizable read. A 3-member etcd 3.4 on
// loopback, LEASES live leases, N requests of each kind at INFLIGHT in flight, ROUNDS rounds alternating the member.
// Each row: requests/s and etcd CPU per request (3 members summed); the last rows are follower / leader, medians.
// Why: a follower forwards each keep-alive to the leader over an HTTP request of its own, so the store aims its
// keep-alive stream at the leader (src/internal/etcd/leader.ts). Env: LEASES=20000 N=20000 INFLIGHT=64 ROUNDS=2.
import { spawnSync } from "node:child_process"
import { loadavg } from "node:os"
import { median, report } from "./lib.mjs"
import { startEtcdCluster, usage } from "./ha-cluster.mjs"

const LEASES = Number(process.env.LEASES ?? 20_000)
const N = Number(process.env.N ?? 20_000)
const INFLIGHT = Number(process.env.INFLIGHT ?? 64)
const ROUNDS = Number(process.env.ROUNDS ?? 2)

if (spawnSync("etcd", ["--version"]).status !== 0) {
  console.warn(
    "etcd-keepalive bench: `etcd` is not installed (apt-get install etcd-server etcd-client); SKIPPED"
  )
  process.exit(0)
}
const { Etcd3 } = await import("etcd3")

const loadBefore = loadavg()[0]
const etcd = await startEtcdCluster(3)
const pids = etcd.procs.map((p) => p.pid)
const clients = etcd.endpoints.map((e) => new Etcd3({ hosts: [`http://${e}`] }))

/** `n` calls of `f` at INFLIGHT in flight: rate and etcd CPU (ms) per call. */
const measure = async (n, f) => {
  let i = 0
  const before = pids.map(usage)
  const started = performance.now()
  await Promise.all(
    Array.from({ length: INFLIGHT }, async () => {
      while (i < n) await f(i++)
    })
  )
  const seconds = (performance.now() - started) / 1000
  const cpu = pids.map(usage).reduce((sum, u, k) => sum + u.cpu - before[k].cpu, 0)
  return { rate: n / seconds, cpuMs: (cpu * 1000) / n }
}

/** Keep-alives of `leases` on one stream to `client`, answers matched by lease id. */
const keepAlives = async (client, leases) => {
  const stream = await client.leaseClient.leaseKeepAlive()
  const waiting = new Map()
  stream.on("data", (res) => {
    const w = waiting.get(res.ID)
    waiting.delete(res.ID)
    w?.()
  })
  const result = await measure(
    N,
    (i) =>
      new Promise((resolve) => {
        const id = leases[i % leases.length]
        waiting.set(id, resolve)
        stream.write({ ID: id })
      })
  )
  stream.cancel()
  return result
}

const rows = []
try {
  const statuses = await Promise.all(clients.map((c) => c.maintenance.status()))
  const leader = statuses.findIndex((s) => s.header.member_id === s.leader)
  const members = { leader, follower: (leader + 1) % 3 }
  const leases = []
  await measure(LEASES, async () =>
    leases.push((await clients[leader].leaseClient.leaseGrant({ TTL: 600, ID: 0 })).ID)
  )
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? ["leader", "follower"] : ["follower", "leader"]
    for (const member of order) {
      const client = clients[members[member]]
      const tag = `r${round}-${member}`
      const kinds = {
        "keep-alive": () => keepAlives(client, leases),
        put: () => measure(N, (i) => client.put(`put/${tag}/${i}`).value("x")),
        "lease grant": () => measure(N / 4, () => client.leaseClient.leaseGrant({ TTL: 60, ID: 0 })),
        "linearizable read": () => measure(N, (i) => client.get(`put/${tag}/${i}`))
      }
      for (const [request, run] of Object.entries(kinds)) {
        const { rate, cpuMs } = await run()
        rows.push({ request, member, round, "requests/s": rate, "etcd CPU ms/request": cpuMs })
      }
    }
  }
  for (const request of ["keep-alive", "put", "lease grant", "linearizable read"]) {
    const of = (member, figure) =>
      median(rows.filter((r) => r.request === request && r.member === member).map((r) => r[figure]))
    rows.push({
      request,
      member: "follower / leader",
      round: "median",
      "requests/s": of("follower", "requests/s") / of("leader", "requests/s"),
      "etcd CPU ms/request": of("follower", "etcd CPU ms/request") / of("leader", "etcd CPU ms/request")
    })
  }
} finally {
  for (const c of clients) c.close()
  await etcd.stop()
}
report("etcd-keepalive", rows, {
  config: JSON.stringify({ LEASES, N, INFLIGHT, ROUNDS }),
  load: `loadavg before ${loadBefore.toFixed(2)}, after ${loadavg()[0].toFixed(2)} (2 cores, shared)`
})
