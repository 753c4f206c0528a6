// Entries.diff against a 10%-changed copy, at 10k and 100k entries, next to Swarm classic's quadratic
// Diff (discovery/entry.go: for each entry, a linear Contains over the other list) at 10k and 30k.
// Run after `npm run build` (npm run bench does it).
import * as Entries from "../dist/esm/Entries.js"
import * as Entry from "../dist/esm/Entry.js"
import { median, report } from "./lib.mjs"

const RUNS = Number(process.env.RUNS ?? 7)

/** n distinct entries spread over 10.x.y.z:2375, starting at offset. */
const make = (n, offset = 0) =>
  Array.from({ length: n }, (_, i) => {
    const k = i + offset
    return Entry.make(`10.${(k >> 16) & 255}.${(k >> 8) & 255}.${k & 255}`, 2375 + (k >> 24))
  })

/** A copy with 10% of the entries replaced by new ones (5% removed, 5% added), shuffled. */
const changed = (entries) => {
  const n = entries.length
  const swap = Math.floor(n * 0.05)
  const kept = entries.slice(swap)
  const fresh = make(swap, n + 1_000_000)
  const out = [...kept, ...fresh]
  // A fixed-seed shuffle, so order cannot help either algorithm.
  let seed = 42
  for (let i = out.length - 1; i > 0; i--) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff
    const j = seed % (i + 1)
    ;[out[i], out[j]] = [out[j], out[i]]
  }
  return { next: out, added: swap, removed: swap }
}

// Swarm classic's algorithm, transcribed: Contains is a linear scan with Equals.
const contains = (list, entry) => {
  for (const e of list) if (e.host === entry.host && e.port === entry.port) return true
  return false
}
const quadraticDiff = (previous, next) => {
  const added = []
  for (const e of next) if (!contains(previous, e)) added.push(e)
  const removed = []
  for (const e of previous) if (!contains(next, e)) removed.push(e)
  return { added, removed }
}

const measure = (fn, runs) => {
  const times = []
  let result
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint()
    result = fn()
    times.push(Number(process.hrtime.bigint() - start) / 1e6)
  }
  return { ms: median(times), result }
}

const rows = []
const cases = [
  { algorithm: "Entries.diff (O(n))", n: 10_000, fn: Entries.diff, runs: RUNS },
  { algorithm: "Entries.diff (O(n))", n: 100_000, fn: Entries.diff, runs: RUNS },
  { algorithm: "Swarm classic Diff (O(n²))", n: 10_000, fn: quadraticDiff, runs: 3 },
  { algorithm: "Swarm classic Diff (O(n²))", n: 30_000, fn: quadraticDiff, runs: 1 }
]
for (const c of cases) {
  const previous = make(c.n)
  const { next, added, removed } = changed(previous)
  // One warm-up run for the JIT.
  c.fn(previous.slice(0, 1000), next.slice(0, 1000))
  const { ms, result } = measure(() => c.fn(previous, next), c.runs)
  // Both must find exactly the change we made.
  if (result.added.length !== added || result.removed.length !== removed) {
    throw new Error(
      `${c.algorithm} at ${c.n}: found +${result.added.length}/-${result.removed.length}, expected +${added}/-${removed}`
    )
  }
  rows.push({ algorithm: c.algorithm, entries: c.n, runs: c.runs, median_ms: ms, added, removed })
}

// The machine's pace, for reading the figures above: one Map.set and one Map.has per entry, 100k
// prebuilt string keys; no O(n) diff can do much better than about twice this.
{
  const keys = make(100_000).map(Entry.format)
  const { ms } = measure(() => {
    const map = new Map()
    for (const k of keys) map.set(k, true)
    let found = 0
    for (const k of keys) if (map.has(k)) found++
    return { added: { length: found }, removed: [] }
  }, RUNS)
  rows.push({
    algorithm: "baseline: 100k Map.set + Map.has",
    entries: 100_000,
    runs: RUNS,
    median_ms: ms,
    added: "",
    removed: ""
  })
}

const at = (algorithm, n) => rows.find((r) => r.algorithm === algorithm && r.entries === n).median_ms
report("diff", rows, {
  aim: "Entries.diff under 50 ms at 100k",
  "Entries.diff 100k": `${at("Entries.diff (O(n))", 100_000).toFixed(1)} ms`,
  "speed-up at 10k": `${(at("Swarm classic Diff (O(n²))", 10_000) / at("Entries.diff (O(n))", 10_000)).toFixed(0)}x`
})
