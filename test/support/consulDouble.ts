/**
 * An in-process double of the part of Consul's HTTP API that the Consul
 * `KvStore` uses, for tests (Debian ships no Consul server).
 *
 * Faithful where the store depends on it, after Consul's own sources
 * (agent/kvs_endpoint.go, agent/session_endpoint.go, agent/txn_endpoint.go, the
 * state store and the blocking-query loop). One module per part, under consul/:
 * - Clock.ts: the injectable clock (`ManualClock` lets tests drive session
 *   expiry and the end of blocking waits).
 * - State.ts: KV entries, tombstones, lock delays, sessions and their expiry,
 *   and the raft/KV indexes (`X-Consul-Index`, never 0).
 * - Kv.ts: `/v1/kv/` `GET`/`PUT`/`DELETE` with their query flags.
 * - Session.ts: `/v1/session/` `create`/`renew`/`destroy`/`info`.
 * - Txn.ts: `/v1/txn` with KV operations, all or nothing.
 * - Http.ts: replies and headers, and blocking queries (`?index=&wait=`).
 * - Double.ts: the server, routing, and the test hooks: `stop`/`start`
 *   (restart, state kept), `reset` (a fresh server's state), `reapTombstones`,
 *   `stall` (accept requests, never answer), `fail` (500 "No cluster leader" or 429), and ACLs
 *   (`aclToken`: the `X-Consul-Token` each request carries is checked and recorded).
 *
 * consul/Transcript.test.ts replays a real Consul 1.10.12's answers
 * (`../shared/consul-1.10/transcript.json`) against it and reports every difference.
 *
 * This file is the entry point importers use; it only re-exports.
 */
export { type DoubleClock, effectClock, ManualClock, SwitchableClock, systemClock } from "./consul/Clock.js"
export {
  ConsulDouble,
  consulDouble,
  type ConsulDoubleOptions,
  type RequestRecord,
  startConsulDouble
} from "./consul/Double.js"
export type { DoubleEntry, DoubleSession } from "./consul/State.js"
