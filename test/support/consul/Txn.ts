/**
 * The Consul double's `PUT /v1/txn`, KV operations only, after
 * agent/txn_endpoint.go, agent/consul/txn_endpoint.go and
 * agent/consul/state/txn.go:
 *
 * - The body is a JSON array of `{"KV": {Verb, Key, Value (base64), Session}}`,
 *   at most 64 of them (413 above); an undecodable body is a 400.
 * - Verbs: `get`, `get-tree`, `set`, `lock`, `delete`, `check-not-exists`.
 *   Each runs in order against the state as the earlier ones left it.
 * - Lock: refused for a key in its lock delay (checked before any op runs),
 *   for a missing or unknown session, and for a key another session holds.
 * - All or nothing: any error rolls the whole transaction back (a write transaction's raft index is
 *   spent all the same, unless the lock-delay pre-check refused it) and answers
 *   409 with `{"Results": null, "Errors": [{OpIndex, What}]}`; otherwise 200
 *   with `{"Results": [{"KV": entry}], "Errors": null}`. Writes share one raft
 *   index. `get`/`get-tree` results carry the value; write results do not.
 */
import { entryJson } from "./Kv.js"
import { goJsonError, type Reply } from "./Http.js"
import { type ConsulState, type DoubleEntry, sameEntry } from "./State.js"

const MAX_OPS = 64
const WRITES = new Set(["set", "lock", "delete"])

interface KvOp {
  readonly Verb: string
  readonly Key: string
  readonly Value?: string | null
  readonly Session?: string
}

interface TxnError {
  readonly OpIndex: number
  readonly What: string
}

const json = (status: number, body: object): Reply => ({ status, body: JSON.stringify(body), json: true })

/**
 * A transaction without writes goes through Consul's read path, whose answer carries the query meta
 * (a recorded 1.10.12 puts `"Index": 1` there) and the leader headers.
 */
const readAnswer = (status: number, body: object): Reply => ({
  ...json(status, {
    ...body,
    Index: 1,
    LastContact: 0,
    KnownLeader: true,
    ConsistencyLevel: "",
    NotModified: false,
    Backend: 0
  }),
  leaderMeta: true
})

const parseOps = (body: Buffer): ReadonlyArray<KvOp> | string => {
  let ops: unknown
  try {
    ops = JSON.parse(body.toString("utf8"))
  } catch (error) {
    return `Failed to parse body: ${goJsonError(body.toString("utf8"), (error as Error).message)}`
  }
  if (!Array.isArray(ops))
    return "Failed to parse body: json: cannot unmarshal object into Go value of type api.TxnOps"
  const out: Array<KvOp> = []
  for (const op of ops as Array<{ KV?: Partial<KvOp> }>) {
    const kv = op?.KV
    if (typeof kv?.Verb !== "string" || typeof kv.Key !== "string")
      return "Failed to parse body: a KV op needs Verb and Key"
    out.push(kv as KvOp)
  }
  return out
}

export class TxnEndpoint {
  constructor(private readonly state: ConsulState) {}

  apply(body: Buffer): Reply {
    const ops = parseOps(body)
    if (typeof ops === "string") return { status: 400, body: ops }
    if (ops.length > MAX_OPS)
      return { status: 413, body: `Transaction contains too many operations (${ops.length} > ${MAX_OPS})` }
    const state = this.state
    const writes = ops.some((op) => WRITES.has(op.Verb))
    const answer = writes ? json : readAnswer
    const errors: Array<TxnError> = []
    // preCheck: lock delays, before anything runs.
    ops.forEach((op, i) => {
      const until = state.lockDelays.get(op.Key)
      if (op.Verb === "lock" && until !== undefined && state.clock.now() < until)
        errors.push({ OpIndex: i, What: `failed to lock key ${JSON.stringify(op.Key)} due to lock delay` })
    })
    if (errors.length > 0) return answer(409, { Results: null, Errors: errors })

    const index = writes ? state.index + 1 : state.index
    // The state as the ops so far have left it; `undefined` marks a deletion.
    const view = new Map<string, DoubleEntry | undefined>()
    const current = (key: string) => (view.has(key) ? view.get(key) : state.kv.get(key))
    const results: Array<{ KV: ReturnType<typeof entryJson> }> = []
    const written = (entry: DoubleEntry) => ({ KV: { ...entryJson(entry), Value: null } })

    ops.forEach((op, i) => {
      const fail = (what: string) => errors.push({ OpIndex: i, What: what })
      const existing = current(op.Key)
      const write = (session: string | undefined, lockIndex: number) => {
        const entry: DoubleEntry = {
          key: op.Key,
          value: Buffer.from(op.Value ?? "", "base64"),
          flags: 0,
          createIndex: existing?.createIndex ?? index,
          modifyIndex: index,
          lockIndex,
          session
        }
        if (sameEntry(existing, entry)) return results.push(written(existing))
        view.set(op.Key, entry)
        results.push(written(entry))
      }
      switch (op.Verb) {
        case "get":
          if (existing === undefined) return fail(`key ${JSON.stringify(op.Key)} doesn't exist`)
          return results.push({ KV: entryJson(existing) })
        case "get-tree": {
          const keys = new Set([...state.kv.keys(), ...view.keys()])
          for (const key of [...keys].filter((k) => k.startsWith(op.Key)).sort()) {
            const entry = current(key)
            if (entry !== undefined) results.push({ KV: entryJson(entry) })
          }
          return
        }
        case "check-not-exists":
          if (existing !== undefined) fail(`key ${JSON.stringify(op.Key)} exists`)
          return
        case "set":
          return write(existing?.session, existing?.lockIndex ?? 0)
        case "lock": {
          const session = op.Session ?? ""
          if (session === "") return fail("missing session")
          if (!state.sessions.has(session)) return fail(`invalid session ${JSON.stringify(session)}`)
          if (existing?.session !== undefined && existing.session !== session)
            return fail(`failed to lock key ${JSON.stringify(op.Key)}, lock is already held`)
          return write(
            session,
            existing?.session === session ? existing.lockIndex : (existing?.lockIndex ?? 0) + 1
          )
        }
        case "delete":
          view.set(op.Key, undefined)
          return
        default:
          return fail(`unknown KV verb ${JSON.stringify(op.Verb)}`)
      }
    })
    if (errors.length > 0) {
      // Past the pre-check a write transaction has gone through raft: its index is spent, rolled back or not.
      if (writes) state.nextIndex()
      return answer(409, { Results: null, Errors: errors })
    }

    if (writes) {
      state.nextIndex()
      for (const [key, entry] of view) {
        if (entry === undefined) state.deleteEntry(key, index)
        else state.setEntry(entry)
      }
      if (view.size > 0) state.notify()
    }
    return answer(200, { Results: results, Errors: null })
  }
}
