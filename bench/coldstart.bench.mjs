// CLI cold start: median wall time of `swarm --version` and `swarm list nodes://10.0.0.[1:200]:2375`
// against `node -e 0`, measured in the same run, interleaved so that machine load hits all three alike.
// Run after `npm run build` (npm run bench does it). RUNS=40 node bench/coldstart.bench.mjs for more samples.
import { spawnSync } from "node:child_process"
import { existsSync } from "node:fs"
import { median, percentile, report } from "./lib.mjs"

const RUNS = Number(process.env.RUNS ?? 20)
const WARMUP = 3
const BIN = "dist/swarm.cjs"
if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run npm run build first`)

const cases = [
  { name: "node -e 0", args: ["-e", "0"] },
  { name: "swarm --version", args: [BIN, "--version"] },
  { name: "swarm list nodes://10.0.0.[1:200]:2375", args: [BIN, "list", "nodes://10.0.0.[1:200]:2375"] },
  // The same list without the V8 code cache, to show what the cache saves.
  {
    name: "swarm list (no code cache)",
    args: [BIN, "list", "nodes://10.0.0.[1:200]:2375"],
    env: { SWARM_CODE_CACHE: "off" }
  }
]

const time = (c) => {
  const start = process.hrtime.bigint()
  const result = spawnSync(process.execPath, c.args, {
    env: { ...process.env, ...c.env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  const ms = Number(process.hrtime.bigint() - start) / 1e6
  if (result.status !== 0) throw new Error(`${c.name} exited ${result.status}: ${result.stderr}`)
  return ms
}

// Sanity: the commands do what we time.
const listed = spawnSync(process.execPath, cases[2].args, { encoding: "utf8" }).stdout.trim().split("\n")
if (listed.length !== 200) throw new Error(`swarm list printed ${listed.length} lines, expected 200`)

for (let i = 0; i < WARMUP; i++) for (const c of cases) time(c)
const samples = cases.map(() => [])
for (let i = 0; i < RUNS; i++) for (const [j, c] of cases.entries()) samples[j].push(time(c))

const baseline = median(samples[0])
report(
  "coldstart",
  cases.map((c, j) => ({
    command: c.name,
    median_ms: median(samples[j]),
    p90_ms: percentile(samples[j], 90),
    ratio_vs_node: median(samples[j]) / baseline
  })),
  { runs: RUNS, aim: "ratio_vs_node <= 1.5 for --version and list" }
)
