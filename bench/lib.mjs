// Shared helpers for benchmarks: statistics, a printed table, and a JSON file with the same figures.
import { mkdirSync, writeFileSync } from "node:fs"
import { cpus } from "node:os"

/** The middle value; for an even count, the mean of the two middle ones. */
export const median = (xs) => {
  if (xs.length % 2 === 1 || xs.length === 0) return percentile(xs, 50)
  const sorted = [...xs].sort((a, b) => a - b)
  return (sorted[xs.length / 2 - 1] + sorted[xs.length / 2]) / 2
}

export const percentile = (xs, p) => {
  if (xs.length === 0) return NaN
  const sorted = [...xs].sort((a, b) => a - b)
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[rank]
}

/**
 * A watch whose snapshots resolve waiters: `until(pred)` resolves with the time a matching snapshot arrived,
 * also when it arrived before `until` was called (a watcher may hear of a write before the writer's own answer).
 */
export const observer = () => {
  let last = undefined
  let lastAt = 0
  const waiters = new Set()
  return {
    push(value) {
      const at = performance.now()
      last = value
      lastAt = at
      for (const w of waiters) if (w.pred(value)) (waiters.delete(w), w.resolve(at))
    },
    until(pred) {
      if (last !== undefined && pred(last)) return Promise.resolve(lastAt)
      return new Promise((resolve) => waiters.add({ pred, resolve }))
    }
  }
}

const fmt = (v) => (typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toFixed(3)) : String(v))

/**
 * Prints `rows` (objects with the same keys) as a table and writes them, with
 * the machine and date, to bench/results/<name>.json.
 */
export const report = (name, rows, notes = {}) => {
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))]
  const cells = [columns, ...rows.map((r) => columns.map((c) => fmt(r[c] ?? "")))]
  const widths = columns.map((_, i) => Math.max(...cells.map((row) => row[i].length)))
  console.log(`\n## ${name}`)
  for (const [i, row] of cells.entries()) {
    console.log(row.map((cell, j) => cell.padEnd(widths[j])).join("  "))
    if (i === 0) console.log(widths.map((w) => "-".repeat(w)).join("  "))
  }
  for (const [k, v] of Object.entries(notes)) console.log(`${k}: ${v}`)
  mkdirSync("bench/results", { recursive: true })
  const machine = { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version }
  writeFileSync(
    `bench/results/${name}.json`,
    JSON.stringify({ name, date: new Date().toISOString(), machine, rows, notes }, null, 2) + "\n"
  )
}
