/**
 * The history checker of the fault-injection suite. Every read that was
 * answered (a list, or a long-poll) is judged against every write, Jepsen
 * style: a write answered 200 happened; a write answered 4xx did not; a
 * write without a clear answer (5xx, timeout, broken connection) may have
 * happened, at any moment up to `unknownWindowMs` after it was sent.
 *
 * Properties (each violation names the operations involved):
 * - lost: an entry whose registration was acknowledged, not deleted, and
 *   whose TTL has not run out, is missing from a read.
 * - resurrected: an entry is listed after its DELETE was acknowledged.
 * - lateExpiry: an entry is listed past its TTL plus the grace (see `deadline`).
 * - phantom: a read lists an entry nobody tried to write.
 * - indexBackwards: an instance answers a cluster with a lower
 *   X-Discovery-Index than one it gave in an answer that ended before.
 * - hung: a long-poll with no answer within its wait plus `pollBoundMs`.
 * - slow: a write or list with no answer within `answerBoundMs`.
 * - bad5xx: a 5xx other than 503, or a 503 without Retry-After.
 * - staleLessor (reported, not a failure): what would be "lost", on an
 *   etcd whose old leader acts on a stale lease clock (`History.staleLessor`),
 *   when only refreshes acknowledged near a leader change kept the entry
 *   alive. It is etcd's bug, fixed in etcd itself; it is counted so that a
 *   run shows how often it struck.
 * Requests to an instance that its clients could not reach at the time
 * (paused, killed, cut off from everyone) are exempt from hung and slow.
 *
 * Long-poll answers come from the instance's etcd watch, which trails the
 * writes by the propagation delay: an entry registered through one instance
 * must be listed by every healthy instance within `propagationMs`, so a
 * long-poll answer is judged as a read made `propagationMs` before it ended.
 * A list is judged as a read made at some moment between its request and
 * its answer: what must be there, must be there throughout; what must be
 * gone, must be gone from its start.
 */
import type { Deletion, Fault, History, Op } from "./history.js"

export interface Bounds {
  /** A write whose outcome is unknown may take effect until this long after it was sent. */
  readonly unknownWindowMs: number
  /** An entry may be gone this long before its TTL (counted from the write being sent) has run out. */
  readonly expiryEarlyMs: number
  /** An entry may be listed this long past its TTL (counted from the write's answer). */
  readonly expiryGraceMs: number
  /** After etcd loses its leader, leases are renewed to their full TTL by the next one within this. */
  readonly electionMs: number
  /** What a new leader adds to every lease's TTL when it renews them: etcd's election timeout. */
  readonly leaseExtendMs: number
  readonly propagationMs: number
  /**
   * With `History.staleLessor`: how long after an election (or after the old leader came back, for a fault
   * that took it away) its stale lease clock may still act, and how long before the election it may have
   * stopped hearing from the others.
   */
  readonly staleLessorMs: number
  readonly pollBoundMs: number
  readonly answerBoundMs: number
}

export const DEFAULT_BOUNDS: Bounds = {
  unknownWindowMs: 15_000,
  expiryEarlyMs: 500,
  expiryGraceMs: 2_000,
  // The suite's etcd elects within 2-4 s (election timeout 2 s, randomized up to twice), plus a loaded machine's slack.
  electionMs: 6_000,
  // The suite's members run with --election-timeout 2000 (topology.ts).
  leaseExtendMs: 2_000,
  propagationMs: 1_000,
  // The old leader steps down within an election timeout of losing its quorum, or at once when it runs again
  // after a pause; on a loaded machine its etcd server catches up with that seconds later.
  staleLessorMs: 5_000,
  // Two store steps of 5 s at most (the token check before the wait, the list that answers its end),
  // plus slack for a loaded machine.
  pollBoundMs: 12_000,
  // Each store step of a request is bounded by the store timeout (5 s); a new entry takes up to three
  // (the write, the token check, the bound check), plus slack.
  answerBoundMs: 17_000
}

export const PROPERTIES = [
  "lost",
  "resurrected",
  "lateExpiry",
  "phantom",
  "indexBackwards",
  "hung",
  "slow",
  "bad5xx",
  "staleLessor"
] as const
export type Property = (typeof PROPERTIES)[number]

/** The properties a run must hold: every one but what is attributed to etcd's own bugs. */
export const REQUIRED: ReadonlyArray<Property> = PROPERTIES.filter((p) => p !== "staleLessor")

export interface Violation {
  readonly property: Property
  /** The read (or request) at fault. */
  readonly op: Op
  readonly detail: string
}

const isWrite = (op: Op) => op.kind === "register" || op.kind === "refresh" || op.kind === "delete"
const isRead = (op: Op) => op.kind === "list" || op.kind === "poll"

const unreachable = (op: Op, faults: ReadonlyArray<Fault>) =>
  faults.some(
    (f) => f.unreachable.includes(op.instance) && f.startedAt < op.completedAt && f.healedAt > op.invokedAt
  )

/**
 * When the state a read shows may have been read: a list reads etcd between
 * its request and its answer; a long-poll answer on a healthy instance trails
 * the writes by the propagation delay at most. An instance that was paused
 * (or cut off from its clients) meanwhile is not healthy: what it answers
 * must only have been true at some moment of the request.
 */
const readWindow = (op: Op, faults: ReadonlyArray<Fault>, bounds: Bounds) => ({
  from: op.kind === "poll" && !unreachable(op, faults) ? op.completedAt - bounds.propagationMs : op.invokedAt,
  to: op.completedAt
})

/**
 * The latest moment an entry written by `write` may still be listed: its
 * TTL after the write could last take effect, plus the grace, stretched by
 * every leader loss that began while it was alive (the next leader renews
 * each lease to its full TTL), and by every election etcd logged meanwhile.
 */
export const deadline = (
  write: Op,
  faults: ReadonlyArray<Fault>,
  bounds: Bounds,
  elections: ReadonlyArray<number> = []
): number => {
  const ttlMs = (write.ttl ?? 0) * 1000
  const last = write.outcome === "ok" ? write.completedAt : write.invokedAt + bounds.unknownWindowMs
  let until = last + ttlMs + bounds.expiryGraceMs
  const losses = faults.filter((f) => f.leaderLoss).sort((a, b) => a.startedAt - b.startedAt)
  for (const fault of losses) {
    if (fault.startedAt < until && fault.healedAt > write.invokedAt) {
      until = Math.max(until, fault.healedAt + bounds.electionMs + ttlMs + bounds.expiryGraceMs)
    }
  }
  // Each election etcd logged while the entry may have been alive renewed its lease (in time order: a
  // renewal may keep it alive into the next one).
  for (const electedAt of [...elections].sort((a, b) => a - b)) {
    if (electedAt > write.invokedAt && electedAt < until) {
      until = Math.max(until, electedAt + bounds.leaseExtendMs + ttlMs + bounds.expiryGraceMs)
    }
  }
  return until
}

interface Timeline {
  readonly writes: ReadonlyArray<Op>
}

/** What every read of a run is judged against, beside its entry's writes. */
interface Context {
  readonly faults: ReadonlyArray<Fault>
  readonly elections: ReadonlyArray<number>
  readonly staleLessor: boolean
  readonly bounds: Bounds
  readonly deletions: ReadonlyArray<Deletion>
}

/** The first deletion of `address` in `cluster` etcd made after `after`, if any. */
const deletedAfter = (
  deletions: ReadonlyArray<Deletion>,
  cluster: string,
  address: string,
  after: number
): Deletion | undefined =>
  deletions.find((d) => d.cluster === cluster && d.address === address && d.at > after)

/**
 * What etcd did with an entry listed past its deadline `until` (nothing when no watcher ran): it deleted it
 * before the read was answered (the instance answered stale), or had not (its lease ran late).
 */
const etcdSaw = (context: Context, read: Op, address: string, after: number, until: number): string => {
  if (context.deletions.length === 0) return ""
  const d = deletedAfter(context.deletions, read.cluster, address, after)
  return d === undefined || d.at > read.completedAt
    ? "; etcd had not deleted it when the read was answered (etcd's lease ran late)"
    : `; etcd deleted it at ${Math.round(d.at)}, ${Math.round(d.at - until)}ms past the deadline (the instance answered stale)`
}

/**
 * Whether `write` (a refresh) was acknowledged while an old etcd leader's stale lease clock may have acted:
 * from `staleLessorMs` before an election to `staleLessorMs` after it, or after the end of a leader-loss
 * fault that spans it (the old leader came back then).
 */
const nearLeaderChange = (write: Op, { bounds, elections, faults }: Context): boolean =>
  elections.some((electedAt) => {
    const back = faults
      .filter((f) => f.leaderLoss && f.startedAt <= electedAt && electedAt <= f.healedAt)
      .reduce((latest, f) => Math.max(latest, f.healedAt), electedAt)
    return (
      write.completedAt >= electedAt - bounds.staleLessorMs && write.invokedAt <= back + bounds.staleLessorMs
    )
  })

/** Judges one entry in one read: the violation, if any. */
const judgeEntry = (
  read: Op,
  address: string,
  listed: boolean,
  timeline: Timeline | undefined,
  context: Context
): Violation | undefined => {
  const { bounds, elections, faults } = context
  const { from: at, to } = readWindow(read, faults, bounds)
  if (timeline === undefined || !timeline.writes.some((w) => w.invokedAt < read.completedAt)) {
    return listed ? { property: "phantom", op: read, detail: `${address} was never written` } : undefined
  }
  const before = timeline.writes.filter((w) => w.invokedAt < read.completedAt && w.outcome !== "fail")
  const deleted = before.find((w) => w.kind === "delete" && w.outcome === "ok" && w.completedAt < at)
  if (listed) {
    if (deleted !== undefined) {
      // A put whose outcome is unknown may land after the delete.
      const pending = before.filter(
        (w) => w.kind !== "delete" && w.outcome === "unknown" && w.invokedAt < deleted.completedAt
      )
      if (!pending.some((w) => at <= deadline(w, faults, bounds, elections))) {
        return { property: "resurrected", op: read, detail: `${address} deleted at ${deleted.completedAt}` }
      }
      return undefined
    }
    const puts = before.filter((w) => w.kind !== "delete")
    const until = Math.max(...puts.map((w) => deadline(w, faults, bounds, elections)))
    if (at <= until) return undefined
    const after = Math.max(...puts.map((w) => w.invokedAt))
    const detail = `${address} listed ${at - until}ms past its deadline${etcdSaw(context, read, address, after, until)}`
    return { property: "lateExpiry", op: read, detail }
  }
  // Not listed: lost only when an acknowledged put must still be alive and no delete was tried.
  if (before.some((w) => w.kind === "delete")) return undefined
  const acked = before.filter((w) => w.kind !== "delete" && w.outcome === "ok" && w.completedAt < at)
  // Alive through the whole window: an entry whose TTL runs out while the read may happen may be gone.
  const keeps = (w: Op) => to < w.invokedAt + (w.ttl ?? 0) * 1000 - bounds.expiryEarlyMs
  const alive = acked.find(keeps)
  if (alive === undefined) return undefined
  // A DELETE refused (404) before the read is no delete; named, since a wrong refusal would look like this.
  const refused = timeline.writes.find((w) => w.kind === "delete" && w.invokedAt < read.completedAt)
  const detail =
    `${address} acknowledged at ${alive.completedAt} (${alive.instance})` +
    (refused === undefined
      ? ""
      : `; a DELETE of it sent at ${refused.invokedAt} (${refused.instance}) was answered ${refused.status}`)
  const renewedForSure = (w: Op) => w.kind !== "refresh" || !nearLeaderChange(w, context)
  return context.staleLessor && !acked.some((w) => keeps(w) && renewedForSure(w))
    ? { property: "staleLessor", op: read, detail: `${detail}, near an etcd leader change` }
    : { property: "lost", op: read, detail }
}

/** Each entry's writes (register, refresh, delete), by cluster and address, in the order they were sent. */
export const timelines = (ops: ReadonlyArray<Op>) => {
  const byCluster = new Map<string, Map<string, Timeline & { writes: Array<Op> }>>()
  for (const op of ops) {
    if (!isWrite(op) || op.address === undefined) continue
    const cluster = byCluster.get(op.cluster) ?? new Map()
    byCluster.set(op.cluster, cluster)
    const timeline = cluster.get(op.address) ?? { writes: [] }
    cluster.set(op.address, timeline)
    timeline.writes.push(op)
  }
  return byCluster
}

const checkReads = (history: History, bounds: Bounds): Array<Violation> => {
  const out: Array<Violation> = []
  const byCluster = timelines(history.ops)
  const context: Context = {
    faults: history.faults,
    elections: history.elections ?? [],
    staleLessor: history.staleLessor === true,
    bounds,
    deletions: history.deletions ?? []
  }
  for (const read of history.ops) {
    if (!isRead(read) || read.outcome !== "ok" || read.entries === undefined) continue
    const cluster = byCluster.get(read.cluster) ?? new Map<string, Timeline>()
    const listed = new Set(read.entries)
    for (const address of new Set([...listed, ...cluster.keys()])) {
      const violation = judgeEntry(read, address, listed.has(address), cluster.get(address), context)
      if (violation !== undefined) out.push(violation)
    }
  }
  return out
}

/** Per instance and cluster: an answer that started after another ended must not carry a lower index. */
const checkIndex = (ops: ReadonlyArray<Op>): Array<Violation> => {
  const out: Array<Violation> = []
  const groups = new Map<string, Array<Op>>()
  for (const op of ops) {
    if (!isRead(op) || op.outcome !== "ok" || op.index === undefined) continue
    const key = `${op.instance} ${op.cluster}`
    groups.set(key, [...(groups.get(key) ?? []), op])
  }
  for (const reads of groups.values()) {
    const byEnd = [...reads].sort((a, b) => a.completedAt - b.completedAt)
    const byStart = [...reads].sort((a, b) => a.invokedAt - b.invokedAt)
    let highest: Op | undefined
    let next = 0
    for (const read of byStart) {
      for (; next < byEnd.length && byEnd[next]!.completedAt < read.invokedAt; next++) {
        if (highest === undefined || byEnd[next]!.index! > highest.index!) highest = byEnd[next]!
      }
      if (highest !== undefined && read.index! < highest.index!) {
        out.push({
          property: "indexBackwards",
          op: read,
          detail: `index ${read.index} after ${highest.index} (answered at ${highest.completedAt})`
        })
      }
    }
  }
  return out
}

const checkAnswers = (history: History, bounds: Bounds): Array<Violation> => {
  const out: Array<Violation> = []
  for (const op of history.ops) {
    const took = op.completedAt - op.invokedAt
    if (op.status !== undefined && op.status >= 500 && (op.status !== 503 || op.retryAfter === undefined)) {
      out.push({ property: "bad5xx", op, detail: `${op.status} retry-after=${op.retryAfter ?? "none"}` })
    }
    if (unreachable(op, history.faults)) continue
    if (op.kind === "poll") {
      const limit = (op.waitMs ?? 0) + bounds.pollBoundMs
      if (took > limit || op.timedOut === true) {
        out.push({ property: "hung", op, detail: `no answer within ${took}ms (bound ${limit}ms)` })
      }
    } else if (took > bounds.answerBoundMs || op.timedOut === true) {
      out.push({
        property: "slow",
        op,
        detail: `no answer within ${took}ms (bound ${bounds.answerBoundMs}ms)`
      })
    }
  }
  return out
}

export const check = (history: History, bounds: Bounds = DEFAULT_BOUNDS): ReadonlyArray<Violation> => [
  ...checkReads(history, bounds),
  ...checkIndex(history.ops),
  ...checkAnswers(history, bounds)
]
