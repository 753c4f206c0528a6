// CLI cold start for the token-using commands: median wall time of `swarm create --url` and
// `swarm list token://…` against a local `swarm serve --store memory://`, beside `node -e 0`, interleaved
// in one run. Unset NODE_EXTRA_CA_CERTS first (it adds ~95 ms to every Node start on this machine).
// Run after `npm run build`. RUNS=40 node bench/coldstart-token.bench.mjs for more samples.
import { spawn, spawnSync } from "node:child_process"
import { existsSync } from "node:fs"
import { createServer } from "node:net"
import { median, percentile, report } from "./lib.mjs"

const RUNS = Number(process.env.RUNS ?? 20)
const WARMUP = 3
const BIN = "dist/swarm.cjs"
if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run npm run build first`)

const freePort = () =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })

const port = await freePort()
const service = `http://127.0.0.1:${port}/v1`
const server = spawn(
  process.execPath,
  [BIN, "serve", "--listen", `127.0.0.1:${port}`, "--store", "memory://"],
  {
    stdio: ["ignore", "ignore", "pipe"]
  }
)
try {
  // Wait for the server: retry `create` until it answers.
  let token
  for (let i = 0; i < 100 && token === undefined; i++) {
    const r = spawnSync(process.execPath, [BIN, "create", "--url", service], { encoding: "utf8" })
    if (r.status === 0) token = r.stdout.trim()
    else await new Promise((resolve) => setTimeout(resolve, 100))
  }
  if (token === undefined) throw new Error("swarm serve did not answer")
  const url = `token://${service}/${token}`
  const cases = [
    { name: "node -e 0", args: ["-e", "0"] },
    { name: "swarm create --url", args: [BIN, "create", "--url", service] },
    { name: "swarm list token://", args: [BIN, "list", url] }
  ]
  const time = (c) => {
    const start = process.hrtime.bigint()
    const result = spawnSync(process.execPath, c.args, { stdio: ["ignore", "pipe", "pipe"] })
    const ms = Number(process.hrtime.bigint() - start) / 1e6
    if (result.status !== 0) throw new Error(`${c.name} exited ${result.status}: ${result.stderr}`)
    return ms
  }
  for (let i = 0; i < WARMUP; i++) for (const c of cases) time(c)
  const samples = cases.map(() => [])
  for (let i = 0; i < RUNS; i++) for (const [j, c] of cases.entries()) samples[j].push(time(c))
  const baseline = median(samples[0])
  report(
    "coldstart-token",
    cases.map((c, j) => ({
      command: c.name,
      median_ms: median(samples[j]),
      p90_ms: percentile(samples[j], 90),
      ratio_vs_node: median(samples[j]) / baseline
    })),
    { runs: RUNS, extra_ca_certs: process.env.NODE_EXTRA_CA_CERTS ? "set" : "unset" }
  )
} finally {
  server.kill("SIGTERM")
}
