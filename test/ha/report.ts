/**
 * The run report of the fault-injection suite: per fault window (from its
 * start to the next one's), the operations by kind and outcome, the
 * checker's verdict per property, and how long the instances took to serve
 * again after the heal.
 */
import { copyFileSync, mkdirSync, readdirSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { DEFAULT_BOUNDS, deadline, PROPERTIES, REQUIRED, type Property, type Violation } from "./checker.js"
import { type ExpiryLateness, expiryLateness } from "./deletions.js"
import type { Fault, History, Op, OpKind, Outcome } from "./history.js"

export interface WindowReport {
  readonly fault: string
  readonly targets: ReadonlyArray<string>
  readonly durationMs: number
  readonly operations: number
  readonly outcomes: Record<Outcome, number>
  readonly byKind: Partial<Record<OpKind, Record<Outcome, number>>>
  readonly verdict: Record<Property, number>
  /** Per instance: from the heal to the end of its first acknowledged write sent after it. */
  readonly recoveryMs: Record<string, number | null>
  /** Longest wait of an answered long-poll that ended in the window. */
  readonly maxPollMs: number
  /** Slowest 503 of a write or list in the window (how long a refusal took). */
  readonly max503Ms: number
  /** Statuses other than 200 seen in the window, with counts. */
  readonly statuses: Record<string, number>
  readonly examples: ReadonlyArray<{ readonly property: Property; readonly detail: string; readonly op: Op }>
}

export interface RunReport {
  readonly windows: ReadonlyArray<WindowReport>
  readonly totals: { readonly operations: number; readonly outcomes: Record<Outcome, number> }
  readonly verdict: Record<Property, number>
  /** How late etcd deleted entries whose TTL ran out (when the deletion watchers ran). */
  readonly etcdExpiry?: ExpiryLateness
}

const zeroOutcomes = (): Record<Outcome, number> => ({ ok: 0, fail: 0, unknown: 0 })
const zeroVerdict = () => Object.fromEntries(PROPERTIES.map((p) => [p, 0])) as Record<Property, number>

const windowOf = (
  name: string,
  fault: Fault | undefined,
  from: number,
  to: number,
  history: History,
  violations: ReadonlyArray<Violation>,
  instances: ReadonlyArray<string>
): WindowReport => {
  const ops = history.ops.filter((op) => op.invokedAt >= from && op.invokedAt < to)
  const outcomes = zeroOutcomes()
  const byKind: Partial<Record<OpKind, Record<Outcome, number>>> = {}
  const statuses: Record<string, number> = {}
  let maxPollMs = 0
  let max503Ms = 0
  for (const op of ops) {
    outcomes[op.outcome]++
    const kind = (byKind[op.kind] ??= zeroOutcomes())
    kind[op.outcome]++
    const status = op.status === undefined ? (op.error ?? "no answer") : String(op.status)
    if (op.status !== 200) statuses[status] = (statuses[status] ?? 0) + 1
    if (op.kind !== "poll" && op.status === 503) max503Ms = Math.max(max503Ms, op.completedAt - op.invokedAt)
    if (op.kind === "poll" && op.status !== undefined)
      maxPollMs = Math.max(maxPollMs, op.completedAt - op.invokedAt)
  }
  const mine = violations.filter((v) => v.op.invokedAt >= from && v.op.invokedAt < to)
  const verdict = zeroVerdict()
  for (const v of mine) verdict[v.property]++
  const recoveryMs: Record<string, number | null> = {}
  if (fault !== undefined) {
    for (const instance of instances) {
      const first = history.ops
        .filter(
          (op) =>
            op.instance === instance &&
            op.invokedAt >= fault.healedAt &&
            op.outcome === "ok" &&
            op.kind !== "list" &&
            op.kind !== "poll"
        )
        .sort((a, b) => a.completedAt - b.completedAt)[0]
      recoveryMs[instance] = first === undefined ? null : Math.round(first.completedAt - fault.healedAt)
    }
  }
  return {
    fault: name,
    targets: fault?.targets ?? [],
    durationMs: to - from,
    operations: ops.length,
    outcomes,
    byKind,
    verdict,
    recoveryMs,
    maxPollMs: Math.round(maxPollMs),
    max503Ms: Math.round(max503Ms),
    statuses,
    examples: mine.slice(0, 5).map((v) => ({ property: v.property, detail: v.detail, op: v.op }))
  }
}

export const summarize = (
  history: History,
  violations: ReadonlyArray<Violation>,
  instances: ReadonlyArray<string>
): RunReport => {
  const starts = history.ops.map((op) => op.invokedAt)
  const first = Math.min(...starts)
  const last = Math.max(...starts) + 1
  const faults = [...history.faults].sort((a, b) => a.startedAt - b.startedAt)
  const windows: Array<WindowReport> = []
  const steadyEnd = faults[0]?.startedAt ?? last
  windows.push(windowOf("steady (no fault)", undefined, first, steadyEnd, history, violations, instances))
  faults.forEach((fault, i) => {
    const to = i + 1 < faults.length ? faults[i + 1]!.startedAt : last
    windows.push(windowOf(fault.name, fault, fault.startedAt, to, history, violations, instances))
  })
  const outcomes = zeroOutcomes()
  for (const op of history.ops) outcomes[op.outcome]++
  const verdict = zeroVerdict()
  for (const v of violations) verdict[v.property]++
  const etcdExpiry =
    history.deletions === undefined
      ? {}
      : {
          etcdExpiry: expiryLateness(history.ops, history.deletions, (write) =>
            deadline(write, history.faults, DEFAULT_BOUNDS, history.elections)
          )
        }
  return { windows, totals: { operations: history.ops.length, outcomes }, verdict, ...etcdExpiry }
}

/** One line per window, for the test's output. */
export const format = (report: RunReport): string => {
  const lines = report.windows.map((w) => {
    const o = w.outcomes
    const bad = REQUIRED.filter((p) => w.verdict[p] > 0).map((p) => `${p}=${w.verdict[p]}`)
    const etcdBug = w.verdict.staleLessor > 0 ? `  (etcd #15247, stale lessor: ${w.verdict.staleLessor})` : ""
    const recovery = Object.entries(w.recoveryMs)
      .map(([instance, ms]) => `${instance}:${ms === null ? "-" : `${ms}ms`}`)
      .join(" ")
    const statuses = Object.entries(w.statuses)
      .map(([s, n]) => `${s}x${n}`)
      .join(" ")
    return (
      `${w.fault.padEnd(34)} ${String(w.operations).padStart(5)} ops  ok ${o.ok} fail ${o.fail} unknown ${o.unknown}` +
      `  ${bad.length === 0 ? "all properties hold" : `VIOLATIONS ${bad.join(" ")}`}${etcdBug}` +
      (recovery === "" ? "" : `  recovery ${recovery}`) +
      (w.max503Ms === 0 ? "" : `  slowest 503 ${w.max503Ms}ms`) +
      (statuses === "" ? "" : `  [${statuses}]`)
    )
  })
  const t = report.totals
  const total = PROPERTIES.map((p) => `${p} ${report.verdict[p]}`).join(", ")
  const e = report.etcdExpiry
  const expiry =
    e === undefined
      ? []
      : [
          `etcd deleted ${e.expiries} entries at their TTL: p50 ${e.p50Ms}ms, p99 ${e.p99Ms}ms, max ${e.maxMs}ms ` +
            `after the last acknowledged put's answer + TTL; the nearest to the checker's deadline ` +
            (e.nearestDeadlineMs <= 0
              ? `${-e.nearestDeadlineMs}ms before it`
              : `${e.nearestDeadlineMs}ms PAST it`)
        ]
  return [
    ...lines,
    `total ${t.operations} ops (ok ${t.outcomes.ok}, fail ${t.outcomes.fail}, unknown ${t.outcomes.unknown}): ${total}`,
    ...expiry
  ].join("\n")
}

export const save = (path: string, report: unknown): void => {
  mkdirSync(dirname(path), { recursive: true })
  writeFileSync(path, JSON.stringify(report, null, 2))
}

/** Copies every process's log (`*.log`) from the run's directory, which is removed afterwards, to `into`. */
export const keepLogs = (dir: string, into: string): void => {
  mkdirSync(into, { recursive: true })
  for (const name of readdirSync(dir))
    if (name.endsWith(".log")) copyFileSync(join(dir, name), join(into, name))
}
