// Scale of the HA mode: a 3-member etcd on loopback and 2 `swarm serve --store etcd://…` instances (dist/swarm.cjs).
//  1. baseline: raw etcd3 puts of new keys, INFLIGHT in flight, on the same etcd, RAW_SECONDS long; then they are
//     deleted and etcd's history compacted, so the phases below do not pay for the baseline's garbage;
//  2. cold: WARMUP new entries through the instances just started (reported apart), then deleted: a server's first
//     seconds run its code unoptimised (V8 warms it up), which the fill after it should not be measured by;
//  3. fill: ENTRIES new entries in CLUSTERS clusters, INFLIGHT in flight, round-robin over both instances (ttl TTL);
//  4. hold: every entry heart-beating every HEARTBEAT seconds for HOLD_SECONDS; meanwhile list latency (GET of a
//     cluster, both instances), CPU and RSS of serve and etcd, and the expiry lateness of PROBES entries that are
//     registered once with PROBE_TTL and never refreshed (TTL end -> gone from every instance);
//  5. the etcd leader is killed (SIGKILL) under that load; the 503 window is first to last failed heartbeat.
// Env: ENTRIES=100000 CLUSTERS=1000 INFLIGHT=64 TTL=180 HEARTBEAT=60 HOLD_SECONDS=600 KILL_SECONDS=30
// RAW_SECONDS=15 WARMUP=10000 FILL_LIMIT=900 PROFILE=1 (serve with --cpu-prof into bench/results/ha-scale-prof/)
// LEASES=shared|per-key (serve's --store-opt kv.leases; default shared, as serve's own default: leases shared by
// time, puts in shared transactions; per-key: one lease per entry)
// COMPACTION=1m (etcd's periodic auto-compaction keeping that much history; default: none, etcd's default).
// Run after `npm run build`.
import { fork, spawnSync } from "node:child_process"
import { existsSync, mkdirSync } from "node:fs"
import { loadavg } from "node:os"
import { percentile, report } from "./lib.mjs"
import { startEtcdCluster, startServe, usage } from "./ha-cluster.mjs"
import { call, tokenOf } from "./ha-load.mjs"

const env = (name, fallback) => Number(process.env[name] ?? fallback)
const ENTRIES = env("ENTRIES", 100_000)
const CLUSTERS = env("CLUSTERS", 1000)
const INFLIGHT = env("INFLIGHT", 64)
const TTL = env("TTL", 180)
const HEARTBEAT = env("HEARTBEAT", 60)
const HOLD_SECONDS = env("HOLD_SECONDS", 600)
const KILL_SECONDS = env("KILL_SECONDS", 30)
const RAW_SECONDS = env("RAW_SECONDS", 15)
const WARMUP = env("WARMUP", 10_000)
const FILL_LIMIT = env("FILL_LIMIT", 900)
const PROBES = env("PROBES", 20)
const PROBE_TTL = env("PROBE_TTL", Math.min(TTL, Math.floor(HOLD_SECONDS / 2)))
const LEASES = process.env.LEASES ?? "shared"
const COMPACTION = process.env.COMPACTION

const countBy = (xs, f) => xs.reduce((acc, x) => ({ ...acc, [f(x)]: (acc[f(x)] ?? 0) + 1 }), {})
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const load = (argv, onMessage) => {
  const proc = fork(new URL("./ha-load.mjs", import.meta.url).pathname, argv)
  return new Promise((resolve, reject) => {
    proc.on("message", (m) => (m.progress === undefined ? resolve(m) : onMessage?.(m)))
    proc.on("exit", (code) => code !== 0 && reject(new Error(`load ${argv[0]} exited with ${code}`)))
  })
}
/** CPU (cores used) and RSS of each process between two moments. */
const meter = (pids) => {
  const first = pids.map(usage)
  const t0 = performance.now()
  const rss = pids.map(() => [])
  return {
    sample: () => pids.forEach((pid, i) => rss[i].push(usage(pid).rss)),
    read: () => {
      const seconds = (performance.now() - t0) / 1000
      return pids.map((pid, i) => ({
        cpu: (usage(pid).cpu - first[i].cpu) / seconds,
        rss: percentile(rss[i].length ? rss[i] : [usage(pid).rss], 50)
      }))
    }
  }
}

/** Registers PROBES entries once; resolves with each one's lateness (ms after its TTL end, gone everywhere). */
const probeExpiry = async (origins, until) => {
  const token = tokenOf(CLUSTERS + 7)
  const ends = new Map()
  for (let i = 0; i < PROBES; i++) {
    const address = `192.0.2.${i + 1}:2375`
    const r = await call(
      origins[i % origins.length],
      "POST",
      `/v1/clusters/${token}?ttl=${PROBE_TTL}`,
      address
    )
    if (r.status !== 200) console.error(`probe register: ${r.status} ${r.body}`)
    else ends.set(address, Date.now() + PROBE_TTL * 1000)
  }
  const goneAt = new Map()
  while (goneAt.size < PROBES && Date.now() < until) {
    const lists = await Promise.all(origins.map((o) => call(o, "GET", `/v1/clusters/${token}`)))
    if (lists.every((l) => l.status === 200)) {
      const live = new Set(lists.flatMap((l) => JSON.parse(l.body)))
      for (const a of ends.keys()) if (!live.has(a) && !goneAt.has(a)) goneAt.set(a, Date.now())
    }
    await sleep(250)
  }
  return [...ends].map(([a, end]) => (goneAt.has(a) ? goneAt.get(a) - end : NaN))
}

const sampleLists = async (origins, until, out) => {
  for (let n = 0; Date.now() < until; n++) {
    const start = performance.now()
    const r = await call(origins[n % origins.length], "GET", `/v1/clusters/${tokenOf(n % CLUSTERS)}`)
    out.push(performance.now() - start)
    if (r.status !== 200) out.failed = (out.failed ?? 0) + 1
    await sleep(100)
  }
}

if (!existsSync("dist/swarm.cjs")) throw new Error("dist/swarm.cjs is missing: run npm run build first")
if (spawnSync("etcd", ["--version"]).status !== 0) {
  console.warn("ha-scale bench: `etcd` is not installed (apt-get install etcd-server etcd-client); SKIPPED")
  process.exit(0)
}
const profileDir = process.env.PROFILE ? "bench/results/ha-scale-prof" : undefined
if (profileDir) mkdirSync(profileDir, { recursive: true })
const loadBefore = loadavg()[0]
const etcd = await startEtcdCluster(3, { compaction: COMPACTION })
const serves = []
try {
  const raw = await load(["raw", etcd.endpoints.join(","), String(INFLIGHT), String(RAW_SECONDS)])
  console.error(`raw: ${raw.rate.toFixed(0)}/s`)
  // The baseline's keys (deleted at its end) leave history that etcd's periodic compaction would otherwise clear
  // while the instances are measured: seen, it slowed the cold phase's deletes fivefold, until entries expired.
  const compactedAt = await etcd.compact()
  console.error(`compacted etcd's history to revision ${compactedAt}`)
  const args = ["--max-total-entries", String(ENTRIES * 2), "--max-clusters", String(CLUSTERS * 2)]
  args.push("--max-new-clusters-per-minute", "1000000", "--min-ttl", "1s")
  args.push("--store-opt", `kv.leases=${LEASES}`)
  for (let i = 0; i < 2; i++) serves.push(await startServe(etcd.endpoints, { profileDir, args }))
  const origins = serves.map((s) => s.origin).join(",")
  const pids = [...serves.map((s) => s.proc.pid), ...etcd.procs.map((p) => p.pid)]

  const cold = WARMUP > 0 ? await load(["warm", origins, WARMUP, CLUSTERS, INFLIGHT].map(String)) : undefined
  if (cold)
    console.error(
      `cold: ${cold.rate.toFixed(0)}/s, p99 ${cold.p99.toFixed(1)} ms, ${JSON.stringify(cold.statuses)}`
    )
  const fillMeter = meter(pids)
  const fill = await load(
    ["fill", origins, ENTRIES, CLUSTERS, INFLIGHT, TTL, FILL_LIMIT, HEARTBEAT].map(String)
  )
  const fillUse = fillMeter.read()
  console.error(
    `fill: ${fill.rate.toFixed(0)}/s, p50 ${fill.p50.toFixed(1)} ms, p99 ${fill.p99.toFixed(1)} ms, ${JSON.stringify(fill.statuses)}`
  )
  const afterFill = { db: await etcd.dbSize(), leases: await etcd.leases() }

  // Hold, with the leader killed at its end.
  const holdMeter = meter(pids)
  const holdEnd = Date.now() + HOLD_SECONDS * 1000
  const holding = load(
    ["hold", origins, ENTRIES, CLUSTERS, TTL, HEARTBEAT, HOLD_SECONDS + KILL_SECONDS].map(String)
  )
  const lists = []
  const listing = sampleLists(
    serves.map((s) => s.origin),
    holdEnd,
    lists
  )
  const probing = probeExpiry(
    serves.map((s) => s.origin),
    holdEnd
  )
  while (Date.now() < holdEnd) {
    holdMeter.sample()
    await sleep(5000)
  }
  const holdUse = holdMeter.read()
  const lateness = await probing
  await listing
  const afterHold = { db: await etcd.dbSize(), leases: await etcd.leases() }
  const leader = await etcd.leader()
  const killedAt = Date.now()
  await etcd.kill(leader)
  const hold = await holding
  const afterKill = hold.failures.filter((f) => f.at >= killedAt)
  const window = afterKill.length ? (afterKill.at(-1).at - afterKill[0].at) / 1000 : 0
  const holdFailedBeforeKill = hold.failures.filter((f) => f.at < killedAt).length

  const sum = (xs, k) => xs.reduce((a, x) => a + x[k], 0)
  const rows = [
    {
      phase: "baseline",
      figure: "raw etcd3 puts/s (new keys)",
      value: raw.rate,
      note: `${INFLIGHT} in flight, p50 ${raw.p50.toFixed(1)} ms, p99 ${raw.p99.toFixed(1)} ms`
    },
    ...(cold
      ? [
          {
            phase: "cold",
            figure: "new entries/s, first after start",
            value: cold.rate,
            note: `${cold.requests} in 100 other clusters, then deleted; ${JSON.stringify(cold.statuses)}`
          },
          { phase: "cold", figure: "register p50 ms", value: cold.p50, note: "" },
          { phase: "cold", figure: "register p99 ms", value: cold.p99, note: "" }
        ]
      : []),
    {
      phase: "fill",
      figure: "new entries/s (2 instances)",
      value: fill.rate,
      note: `${fill.requests} of ${ENTRIES} in ${CLUSTERS} clusters, ${INFLIGHT} in flight; meanwhile ${fill.beats.requests} heartbeats ${JSON.stringify(fill.beats.statuses)}`
    },
    { phase: "fill", figure: "ratio vs raw etcd3 puts", value: fill.rate / raw.rate, note: "goal >= 0.5" },
    { phase: "fill", figure: "register p50 ms", value: fill.p50, note: "" },
    { phase: "fill", figure: "register p99 ms", value: fill.p99, note: "goal < 100" },
    {
      phase: "fill",
      figure: "non-200 answers",
      value: fill.requests - (fill.statuses[200] ?? 0),
      note: JSON.stringify(fill.statuses)
    },
    {
      phase: "fill",
      figure: "serve CPU (cores, sum of 2)",
      value: sum(fillUse.slice(0, 2), "cpu"),
      note: ""
    },
    { phase: "fill", figure: "etcd CPU (cores, sum of 3)", value: sum(fillUse.slice(2), "cpu"), note: "" },
    { phase: "fill", figure: "etcd db size MB", value: afterFill.db / 1e6, note: "" },
    { phase: "fill", figure: "etcd leases", value: afterFill.leases, note: "" },
    {
      phase: "hold",
      figure: "refreshes/s",
      value: hold.rate,
      note: `${HOLD_SECONDS + KILL_SECONDS}s, p50 ${hold.p50.toFixed(1)} ms, p99 ${hold.p99.toFixed(1)} ms, lagged ticks ${hold.lagged}`
    },
    {
      phase: "hold",
      figure: "failed refreshes before the kill",
      value: holdFailedBeforeKill,
      note: JSON.stringify(hold.statuses)
    },
    {
      phase: "hold",
      figure: "serve CPU (cores, each)",
      value: holdUse
        .slice(0, 2)
        .map((u) => u.cpu.toFixed(3))
        .join(" / "),
      note: ""
    },
    {
      phase: "hold",
      figure: "serve RSS MB (median, each)",
      value: holdUse
        .slice(0, 2)
        .map((u) => u.rss.toFixed(0))
        .join(" / "),
      note: ""
    },
    {
      phase: "hold",
      figure: "etcd CPU (cores, each)",
      value: holdUse
        .slice(2)
        .map((u) => u.cpu.toFixed(3))
        .join(" / "),
      note: ""
    },
    {
      phase: "hold",
      figure: "etcd RSS MB (median, each)",
      value: holdUse
        .slice(2)
        .map((u) => u.rss.toFixed(0))
        .join(" / "),
      note: ""
    },
    { phase: "hold", figure: "etcd db size MB", value: afterHold.db / 1e6, note: "" },
    { phase: "hold", figure: "etcd leases", value: afterHold.leases, note: "" },
    {
      phase: "hold",
      figure: "list p50 ms",
      value: percentile(lists, 50),
      note: `${lists.length} GETs of a cluster, ${lists.failed ?? 0} failed`
    },
    { phase: "hold", figure: "list p99 ms", value: percentile(lists, 99), note: "" },
    {
      phase: "hold",
      figure: "expiry lateness p50 s",
      value: percentile(lateness, 50) / 1000,
      note: `${PROBES} probes, ttl ${PROBE_TTL}s, ${lateness.filter(Number.isNaN).length} not gone in time`
    },
    {
      phase: "hold",
      figure: "expiry lateness p99 s",
      value: percentile(lateness, 99) / 1000,
      note: "TTL end -> gone from both instances (polled every 250 ms)"
    },
    {
      phase: "kill",
      figure: "503 window s",
      value: window,
      note: `leader m${leader} SIGKILL; ${afterKill.length} failed: ${JSON.stringify(countBy(afterKill, (f) => f.status))}`
    }
  ]
  report(LEASES === "per-key" ? "ha-scale" : `ha-scale-${LEASES}`, rows, {
    load: `loadavg before ${loadBefore.toFixed(2)}, after ${loadavg()[0].toFixed(2)} (2 cores, shared)`,
    config: JSON.stringify({
      ENTRIES,
      CLUSTERS,
      INFLIGHT,
      TTL,
      HEARTBEAT,
      HOLD_SECONDS,
      KILL_SECONDS,
      WARMUP,
      PROBE_TTL,
      LEASES,
      COMPACTION
    }),
    fillFailures: JSON.stringify(fill.failures.slice(0, 3)),
    killFailures: JSON.stringify(afterKill.slice(0, 3))
  })
} finally {
  for (const s of serves) await s.stop()
  await etcd.stop()
}
