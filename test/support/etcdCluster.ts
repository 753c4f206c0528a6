/**
 * A real 3-member etcd (v3.4 from Debian) on free loopback ports with a
 * temporary data dir, for tests of what depends on which member leads.
 * Members talk to each other over loopback: no network namespace, no root.
 */
import { join } from "node:path"
import { Etcd3 } from "etcd3"
import { freePort } from "./net.js"
import { ManagedProcess, removeDir, tempDir, waitUntil } from "./kv-server.js"

export interface EtcdCluster {
  /** `127.0.0.1:port` of each member, in member order. */
  readonly endpoints: ReadonlyArray<string>
  /** Index of the member that leads now (asked of every member). */
  readonly leader: () => Promise<number>
  /** Hands the leadership from the current leader to member `to`, and waits until every member agrees. */
  readonly moveLeader: (to: number) => Promise<void>
  /** Messages member `i` received on gRPC method `method` (its `/metrics`, e.g. `LeaseKeepAlive`). */
  readonly received: (i: number, method: string) => Promise<number>
  readonly dispose: () => Promise<void>
}

export const startEtcdCluster = async (members = 3): Promise<EtcdCluster> => {
  const dir = tempDir("etcd-cluster")
  const ports: Array<{ client: number; peer: number }> = []
  for (let i = 0; i < members; i++) ports.push({ client: await freePort(), peer: await freePort() })
  const peers = ports.map((p, i) => `m${i}=http://127.0.0.1:${p.peer}`).join(",")
  const procs = ports.map(
    (p, i) =>
      new ManagedProcess(
        "etcd",
        [
          ...["--name", `m${i}`, "--data-dir", join(dir, `m${i}`)],
          ...["--listen-client-urls", `http://127.0.0.1:${p.client}`],
          ...["--advertise-client-urls", `http://127.0.0.1:${p.client}`],
          ...["--listen-peer-urls", `http://127.0.0.1:${p.peer}`],
          ...["--initial-advertise-peer-urls", `http://127.0.0.1:${p.peer}`],
          ...["--initial-cluster", peers, "--initial-cluster-state", "new"],
          ...["--logger", "zap", "--log-level", "warn"]
        ],
        join(dir, `m${i}.log`)
      )
  )
  const endpoints = ports.map((p) => `127.0.0.1:${p.client}`)
  const clients = endpoints.map((e) => new Etcd3({ hosts: [`http://${e}`] }))
  const dispose = async () => {
    for (const c of clients) c.close()
    await Promise.all(procs.map((p) => p.stop("SIGTERM")))
    removeDir(dir)
  }
  const statuses = () => Promise.all(clients.map((c) => c.maintenance.status()))
  const leader = async () => {
    const all = await statuses()
    const i = all.findIndex((s) => s.leader !== "0" && s.header.member_id === s.leader)
    if (i < 0) throw new Error("no member leads")
    return i
  }
  try {
    for (const p of procs) p.start()
    await waitUntil(
      "a 3-member etcd with a leader",
      () =>
        leader().then(
          () => true,
          () => false
        ),
      30_000,
      () => procs.map((p) => p.logTail()).join("\n")
    )
  } catch (error) {
    await dispose()
    throw error
  }
  return {
    endpoints,
    leader,
    moveLeader: async (to) => {
      const from = await leader()
      const target = (await clients[to]!.maintenance.status()).header.member_id
      await clients[from]!.maintenance.moveLeader({ targetID: target })
      await waitUntil(
        `member ${to} leading`,
        async () => (await statuses()).every((s) => s.leader === target),
        10_000
      )
    },
    received: async (i, method) => {
      const text = await (await fetch(`http://${endpoints[i]}/metrics`)).text()
      const line = text
        .split("\n")
        .find((l) => l.startsWith("grpc_server_msg_received_total") && l.includes(`grpc_method="${method}"`))
      return line === undefined ? 0 : Number(line.split(" ").pop())
    },
    dispose
  }
}
