/**
 * Which configured endpoint is etcd's leader.
 *
 * etcd answers a lease keep-alive from the leader's memory, but a follower
 * forwards each one to the leader over an HTTP request of its own. Measured
 * (`bench/etcd-keepalive.bench.mjs`: 3-member etcd 3.4, 20,000 leases, one
 * stream, 64 in flight): 0.06 ms of etcd CPU and ~15,000 keep-alives/s on the
 * leader, 0.36 ms and ~3,700/s through a follower. Writes and reads cost
 * within 1.2× through either, so only keep-alives are aimed.
 */
import type { Connection } from "./connection.js"

export interface Leader {
  /** The endpoint (one of `Connection.hosts`) that answered as the leader. */
  readonly host: string
  /** The raft term it leads in: an answer in another term means the leader may have changed. */
  readonly term: string
}

/**
 * Asks every endpoint at once for its status, each within `ms`; the first that says it is the leader wins.
 * `undefined` when none does (no leader, or the leader is not among the endpoints, or none answers).
 */
export const find = (connection: Connection, ms: number): Promise<Leader | undefined> =>
  new Promise((resolve) => {
    let pending = connection.hosts.length
    const settled = () => {
      if (--pending === 0) resolve(undefined)
    }
    for (const host of connection.hosts) {
      connection
        .memberClient(host)
        .maintenance.status({ deadline: Date.now() + ms })
        .then((status) => {
          if (status.leader !== "0" && status.header.member_id === status.leader)
            resolve({ host, term: status.header.raft_term })
        })
        .catch(() => undefined)
        .finally(settled)
    }
  })
