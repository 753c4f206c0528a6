/**
 * The fault-injection suite's topology, all real processes in a netns lab:
 * a 3-member etcd cluster on the "back" network, `swarm serve --store
 * etcd://…` instances on "back" (to etcd) and "front" (to clients), and one
 * client node on "front" only. So an instance cut from "back" is cut off
 * from etcd while its clients still reach it.
 */
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { ManagedProcess, waitUntil } from "../support/kv-server.js"
import type { Lab, Node } from "../support/netns.js"
import { SWARM } from "../support/token-e2e.js"
import { merge } from "./deletions.js"
import type { Deletion } from "./history.js"

export const BACK = "back"
export const FRONT = "front"
const CLIENT_PORT = 2379
const PEER_PORT = 2380
const SERVE_PORT = 8375
const WATCHER = fileURLToPath(new URL("./deletionWatcher.ts", import.meta.url))

export interface Member {
  readonly name: string
  readonly node: Node
  readonly url: string
  readonly process: ManagedProcess
}

export interface Instance {
  readonly name: string
  readonly node: Node
  readonly origin: string
  readonly process: ManagedProcess
}

export interface Topology {
  readonly lab: Lab
  readonly members: ReadonlyArray<Member>
  readonly instances: ReadonlyArray<Instance>
  readonly client: Node
  /** The member etcd's majority follows now (asked from inside the back network). */
  readonly leader: () => Promise<Member>
  /** Starts `member` again (same data dir) and waits until the cluster calls it healthy. */
  readonly startMember: (member: Member) => Promise<void>
  /** Starts `instance` again and waits until its clients get /healthz. */
  readonly startInstance: (instance: Instance) => Promise<void>
  /**
   * When a member became etcd's leader (ms since the epoch), every time, from the members' own logs. A new
   * leader renews every lease to its full TTL plus etcd's election timeout, whatever caused the election (a
   * fault, a member coming back with a higher term, a starved machine): the checker needs the real ones.
   */
  readonly elections: () => ReadonlyArray<number>
  /** When etcd deleted each entry, as the members' own watches saw it (`deletionWatcher.ts`). */
  readonly deletions: () => ReadonlyArray<Deletion>
  /** Stops every process (SIGKILL). */
  readonly stop: () => Promise<void>
}

/** The environment of a child: ours without the SWARM_* settings of whoever runs the tests. */
const envCommand = (command: string, args: ReadonlyArray<string>) => [
  "-i",
  ...Object.entries(process.env)
    .filter(([key, value]) => !key.startsWith("SWARM_") && value !== undefined)
    .map(([key, value]) => `${key}=${value}`),
  "NO_COLOR=1",
  command,
  ...args
]

export const build = async (
  lab: Lab,
  dir: string,
  options: {
    readonly instances: number
    /** The etcd store's lease mode (`--store-opt kv.leases=…`); default one lease per key (serve's is shared). */
    readonly leases?: "per-key" | "shared"
  }
): Promise<Topology> => {
  const memberNodes = ["e1", "e2", "e3"].map((name) => lab.node(name, [BACK]))
  const instanceNodes = Array.from({ length: options.instances }, (_, i) =>
    lab.node(`s${i + 1}`, [BACK, FRONT])
  )
  const client = lab.node("client", [FRONT])
  const peers = memberNodes.map((n) => `${n.name}=http://${n.address(BACK)}:${PEER_PORT}`).join(",")
  const endpoints = memberNodes.map((n) => `${n.address(BACK)}:${CLIENT_PORT}`)

  const members: Array<Member> = memberNodes.map((node) => {
    const url = `http://${node.address(BACK)}:${CLIENT_PORT}`
    const args = [
      ...["--name", node.name, "--data-dir", join(dir, `${node.name}.data`)],
      // Loopback too, so etcdctl inside the member's namespace reaches it while it is cut off.
      ...["--listen-client-urls", `${url},http://127.0.0.1:${CLIENT_PORT}`, "--advertise-client-urls", url],
      ...["--listen-peer-urls", `http://${node.address(BACK)}:${PEER_PORT}`],
      ...["--initial-advertise-peer-urls", `http://${node.address(BACK)}:${PEER_PORT}`],
      ...["--initial-cluster", peers, "--initial-cluster-state", "new", "--initial-cluster-token", lab.id],
      // A loaded two-core machine starves etcd now and then: a 2 s election timeout keeps it from electing
      // a new leader when no fault asked for one (leader changes stretch TTLs, see checker.ts).
      ...["--heartbeat-interval", "200", "--election-timeout", "2000"],
      // Info, for the "became leader" lines (`elections`); etcd is quiet at info otherwise.
      ...["--logger", "zap", "--log-level", "info"]
    ]
    return {
      name: node.name,
      node,
      url,
      process: lab.process(node, "etcd", args, join(dir, `${node.name}.log`))
    }
  })

  // One deletion watcher per member, on the member's loopback (no fault cuts it), from after it is healthy.
  const watchers = memberNodes.map((node) => {
    const out = join(dir, `${node.name}.deletions.jsonl`)
    const args = ["--import", "tsx", WATCHER, `http://127.0.0.1:${CLIENT_PORT}`, "ha/", out]
    return { out, process: lab.process(node, process.execPath, args, join(dir, `${node.name}-watch.log`)) }
  })

  const store = `etcd://${endpoints.join(",")}/ha`
  const instances: Array<Instance> = instanceNodes.map((node) => {
    const listen = `${node.address(FRONT)}:${SERVE_PORT}`
    const leases = ["--store-opt", `kv.leases=${options.leases ?? "per-key"}`]
    const argv = envCommand(process.execPath, [
      SWARM,
      "serve",
      "--store",
      store,
      ...leases,
      "--listen",
      listen
    ])
    return {
      name: node.name,
      node,
      origin: `http://${listen}`,
      process: lab.process(node, "env", argv, join(dir, `${node.name}.log`))
    }
  })

  const etcdctl = (node: Node, args: ReadonlyArray<string>) =>
    lab.exec(node, "env", ["ETCDCTL_API=3", "etcdctl", "--dial-timeout=1s", "--command-timeout=2s", ...args])

  const startMember = async (member: Member) => {
    if (!member.process.isRunning) member.process.start()
    await waitUntil(
      `etcd member ${member.name}`,
      // etcdctl exits 0 only when the member answers a quorum read (it reports on stderr).
      async () => (
        etcdctl(member.node, ["--endpoints", `http://127.0.0.1:${CLIENT_PORT}`, "endpoint", "health"]),
        true
      ),
      60_000,
      () => member.process.logTail()
    )
  }

  const startInstance = async (instance: Instance) => {
    if (!instance.process.isRunning) instance.process.start()
    await waitUntil(
      `swarm serve ${instance.name}`,
      async () =>
        lab.exec(client, "curl", [
          "-s",
          "-o",
          "/dev/null",
          "-w",
          "%{http_code}",
          "--max-time",
          "1",
          `${instance.origin}/healthz`
        ]) === "200",
      60_000,
      () => instance.process.logTail()
    )
  }

  const leaderNow = (): Member | undefined => {
    const status = JSON.parse(
      etcdctl(instanceNodes[0]!, ["--endpoints", endpoints.join(","), "endpoint", "status", "-w", "json"])
    ) as Array<{ Endpoint: string; Status: { header: { member_id: number }; leader?: number } }>
    // Ids are 64-bit: compared as the same lossy numbers on both sides.
    const at = status.find(
      (s) => s.Status.leader !== undefined && s.Status.header.member_id === s.Status.leader
    )
    return members.find(
      (m) => at !== undefined && m.url === `http://${at.Endpoint.replace(/^https?:\/\//, "")}`
    )
  }

  // Right after a fault heals etcd may be electing: wait for a leader.
  const leader = async () => {
    let found: Member | undefined
    await waitUntil("an etcd leader", async () => (found = leaderNow()) !== undefined, 30_000)
    return found!
  }

  const elections = () =>
    members
      .flatMap((m) =>
        existsSync(m.process.logFile) ? readFileSync(m.process.logFile, "utf8").split("\n") : []
      )
      .filter((line) => line.includes("became leader at term"))
      .map((line) => Date.parse((JSON.parse(line) as { ts: string }).ts))
      .sort((a, b) => a - b)

  const stop = async () => {
    await Promise.all([...instances, ...members, ...watchers].map((p) => p.process.stop("SIGKILL")))
  }

  try {
    for (const member of members) member.process.start()
    await Promise.all(members.map(startMember))
    for (const watcher of watchers) watcher.process.start()
    await Promise.all(instances.map(startInstance))
  } catch (error) {
    await stop()
    throw error
  }
  const deletions = () => merge(watchers.map((w) => w.out))
  return { lab, members, instances, client, leader, startMember, startInstance, elections, deletions, stop }
}
