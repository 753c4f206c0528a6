// Processes for the HA benches: a 3-member etcd cluster on loopback (temp data dirs) and `swarm serve --store
// etcd://…` instances from dist/swarm.cjs, with their CPU and RSS read from /proc.
import { execFile, spawn } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"

const run = promisify(execFile)

export const freePort = () =>
  new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** CPU seconds (user + system) and RSS in MB of a live process. */
export const usage = (pid) => {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ")
    const rss = Number(/VmRSS:\s+([0-9]+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))[1]) / 1024
    return { cpu: (Number(fields[11]) + Number(fields[12])) / 100, rss }
  } catch {
    return { cpu: NaN, rss: NaN }
  }
}

const exited = (proc) =>
  proc.exitCode !== null || proc.signalCode !== null
    ? Promise.resolve()
    : new Promise((r) => proc.once("exit", r))

/**
 * A 3-member etcd on loopback. `leader()` names the member that leads now. `compaction` (e.g. "1m"): etcd's
 * periodic auto-compaction, keeping that much history.
 */
export const startEtcdCluster = async (members = 3, { compaction } = {}) => {
  const dir = mkdtempSync(join(tmpdir(), `swarm-ha-bench-${process.pid}-`))
  const ports = []
  for (let i = 0; i < members; i++) ports.push({ client: await freePort(), peer: await freePort() })
  const names = ports.map((_, i) => `m${i}`)
  const initial = ports.map((p, i) => `${names[i]}=http://127.0.0.1:${p.peer}`).join(",")
  const procs = ports.map((p, i) =>
    spawn(
      "etcd",
      [
        ...["--name", names[i], "--data-dir", join(dir, names[i])],
        ...["--listen-client-urls", `http://127.0.0.1:${p.client}`],
        ...["--advertise-client-urls", `http://127.0.0.1:${p.client}`],
        ...["--listen-peer-urls", `http://127.0.0.1:${p.peer}`],
        ...["--initial-advertise-peer-urls", `http://127.0.0.1:${p.peer}`],
        ...["--initial-cluster", initial, "--initial-cluster-state", "new"],
        ...["--logger", "zap", "--log-level", "error"],
        ...(compaction
          ? ["--auto-compaction-mode", "periodic", "--auto-compaction-retention", compaction]
          : [])
      ],
      { stdio: "ignore" }
    )
  )
  const endpoints = ports.map((p) => `127.0.0.1:${p.client}`)
  const ctl = async (...args) =>
    (
      await run("etcdctl", ["--endpoints", endpoints.join(","), "--command-timeout", "30s", ...args], {
        env: { ...process.env, ETCDCTL_API: "3" },
        maxBuffer: 256 * 1024 * 1024
      })
    ).stdout
  for (let i = 0; ; i++) {
    const healthy = await Promise.all(
      endpoints.map((e) =>
        fetch(`http://${e}/health`).then(
          async (r) => r.ok && (await r.json()).health === "true",
          () => false
        )
      )
    )
    if (healthy.every(Boolean)) break
    if (i > 300) throw new Error("the etcd cluster did not become healthy")
    await sleep(100)
  }
  const status = async () => JSON.parse(await ctl("endpoint", "status", "--write-out=json"))
  return {
    endpoints,
    procs,
    ctl,
    /** The index of the member that leads now. */
    leader: async () => {
      const all = await status()
      return all.findIndex((s) => s.Status.header.member_id === s.Status.leader)
    },
    /** The largest database size (bytes) of any live member. */
    dbSize: async () => Math.max(...(await status()).map((s) => s.Status.dbSize)),
    leases: async () => Number(/found ([0-9]+) leases/.exec(await ctl("lease", "list"))?.[1] ?? NaN),
    /** Compacts etcd's history up to now and waits until it is gone from the members' databases. */
    compact: async () => {
      const revision = Math.max(...(await status()).map((s) => Number(s.Status.header.revision)))
      await ctl("compact", String(revision), "--physical")
      return revision
    },
    kill: async (i) => {
      procs[i].kill("SIGKILL")
      await exited(procs[i])
    },
    stop: async () => {
      for (const p of procs) p.kill("SIGTERM")
      await Promise.all(procs.map(exited))
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

/** `swarm serve --store etcd://…/swarm` on a free port; `profileDir` adds --cpu-prof. */
export const startServe = async (endpoints, { profileDir, args = [] } = {}) => {
  const port = await freePort()
  const node = profileDir ? ["--cpu-prof", "--cpu-prof-dir", profileDir] : []
  const proc = spawn(
    process.execPath,
    [
      ...node,
      "dist/swarm.cjs",
      "serve",
      ...["--listen", `127.0.0.1:${port}`, "--store", `etcd://${endpoints.join(",")}/swarm`],
      ...args
    ],
    { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, NODE_EXTRA_CA_CERTS: "" } }
  )
  let stderr = ""
  proc.stderr.on("data", (c) => (stderr = (stderr + c).slice(-20_000)))
  for (let i = 0; !stderr.includes("npx swarm list"); i++) {
    if (i > 600 || proc.exitCode !== null) throw new Error(`serve did not start: ${stderr}`)
    await sleep(50)
  }
  return {
    proc,
    origin: `http://127.0.0.1:${port}`,
    stderr: () => stderr,
    stop: async () => {
      proc.kill("SIGTERM")
      await exited(proc)
    }
  }
}
