// CLI cold start: median wall time of `swarm --version`, `swarm list nodes://10.0.0.[1:200]:2375` and
// `swarm create` (against a token service in this process) against `node -e 0`, all interleaved in the same
// run so that machine load hits them alike. Measured twice: with NODE_EXTRA_CA_CERTS unset (our own cost), and
// with the environment as the machine has it (what a user here sees; the CA bundle costs every Node start).
// Then where the time goes: a copy of the loader with clocks between its steps (read the bundle and its code
// cache, deserialise the cache, evaluate the bundle's top level, then the command until exit).
// Run after `npm run build` (npm run bench does it). RUNS=60 node bench/coldstart.bench.mjs for more samples.
import { spawn } from "node:child_process"
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs"
import { createServer } from "node:http"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { median, percentile, report } from "./lib.mjs"

const RUNS = Number(process.env.RUNS ?? 30)
const WARMUP = 3
const BIN = "dist/swarm.cjs"
if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run npm run build first`)

const TOKEN = "0123456789abcdef0123456789abcdef"
// The token service `create` asks. It answers from this process, off the timed child's CPU most of the time.
const service = createServer((req, res) => {
  req.resume()
  req.on("end", () => res.writeHead(200, { "content-type": "text/plain" }).end(TOKEN))
})
await new Promise((r) => service.listen(0, "127.0.0.1", r))
const url = `http://127.0.0.1:${service.address().port}/v1`

const LIST = ["list", "nodes://10.0.0.[1:200]:2375"]
const commands = [
  { name: "node -e 0", args: ["-e", "0"] },
  { name: "swarm --version", args: [BIN, "--version"] },
  { name: "swarm list nodes://10.0.0.[1:200]:2375", args: [BIN, ...LIST] },
  { name: "swarm create", args: [BIN, "create", "--url", url] },
  { name: "swarm list (no code cache)", args: [BIN, ...LIST], env: { SWARM_CODE_CACHE: "off" } }
]

const machine = process.env.NODE_EXTRA_CA_CERTS
const unset = { ...process.env }
delete unset.NODE_EXTRA_CA_CERTS
const environments = [
  { name: "NODE_EXTRA_CA_CERTS unset", env: unset },
  ...(machine === undefined ? [] : [{ name: "as the machine has it", env: process.env }])
]

// A spawnSync would block this process, and with it the token service `create` talks to.
const run = (args, env) =>
  new Promise((resolveRun, reject) => {
    const start = process.hrtime.bigint()
    const child = spawn(process.execPath, args, { env, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d) => (stdout += d))
    child.stderr.on("data", (d) => (stderr += d))
    child.on("error", reject)
    child.on("close", (code) => {
      const ms = Number(process.hrtime.bigint() - start) / 1e6
      if (code !== 0) reject(new Error(`${args.join(" ")} exited ${code}: ${stderr}`))
      else resolveRun({ ms, stdout, stderr })
    })
  })

// Sanity: the commands do what we time.
const listed = (await run(commands[2].args, unset)).stdout.trim().split("\n")
if (listed.length !== 200) throw new Error(`swarm list printed ${listed.length} lines, expected 200`)
if ((await run(commands[3].args, unset)).stdout !== `${TOKEN}\n`) throw new Error("swarm create printed more")

const cells = environments.map(() => commands.map(() => []))
for (let i = 0; i < WARMUP + RUNS; i++) {
  for (const [e, environment] of environments.entries()) {
    for (const [c, command] of commands.entries()) {
      const { ms } = await run(command.args, { ...environment.env, ...command.env })
      if (i >= WARMUP) cells[e][c].push(ms)
    }
  }
}

const rows = []
for (const [e, environment] of environments.entries()) {
  const baseline = median(cells[e][0])
  for (const [c, command] of commands.entries()) {
    rows.push({
      env: environment.name,
      command: command.name,
      median_ms: median(cells[e][c]),
      p90_ms: percentile(cells[e][c], 90),
      own_ms: median(cells[e][c]) - baseline,
      ratio_vs_node: median(cells[e][c]) / baseline
    })
  }
}

// Where the time goes: the loader's steps, timed inside the process (NODE_EXTRA_CA_CERTS unset).
const dist = resolve("dist")
const cache = readdirSync(dist).find((f) => /^swarm-main\..*\.v8$/.test(f))
const dir = mkdtempSync(join(tmpdir(), "swarm-coldstart-"))
const timedLoader = join(dir, "timed-loader.cjs")
writeFileSync(
  timedLoader,
  `"use strict"
const boot = performance.now()
const fs = require("node:fs"), vm = require("node:vm"), Module = require("node:module")
const bundle = ${JSON.stringify(join(dist, "swarm-main.cjs"))}
const source = fs.readFileSync(bundle, "utf8")
const cachedData = ${cache === undefined ? "undefined" : `fs.readFileSync(${JSON.stringify(join(dist, cache))})`}
const read = performance.now()
const script = new vm.Script(Module.wrap(source), { filename: bundle, cachedData })
const compiled = performance.now()
const mod = { exports: {}, filename: bundle, id: bundle, path: ${JSON.stringify(dist)}, loaded: false }
process.argv.splice(1, 1)
script.runInThisContext()(mod.exports, Module.createRequire(bundle), mod, bundle, ${JSON.stringify(dist)})
const evaluated = performance.now()
process.on("exit", () => {
  const t = { boot, read: read - boot, deserialise: compiled - read, top_level: evaluated - compiled,
    command: performance.now() - evaluated, rejected: script.cachedDataRejected === true }
  fs.writeSync(2, "\\n@timing " + JSON.stringify(t) + "\\n")
})
`
)
const phases = []
for (const [name, args] of [
  ["swarm --version", ["--version"]],
  ["swarm list nodes://10.0.0.[1:200]:2375", LIST],
  ["swarm create", ["create", "--url", url]]
]) {
  const samples = []
  for (let i = 0; i < WARMUP + RUNS; i++) {
    const { stderr } = await run([timedLoader, "swarm", ...args], unset)
    const line = stderr.split("\n").find((l) => l.startsWith("@timing "))
    if (i >= WARMUP) samples.push(JSON.parse(line.slice("@timing ".length)))
  }
  const m = (key) => median(samples.map((s) => s[key]))
  phases.push({
    command: name,
    node_boot_ms: m("boot"),
    read_ms: m("read"),
    deserialise_cache_ms: m("deserialise"),
    top_level_ms: m("top_level"),
    command_ms: m("command"),
    cache_rejected: samples.some((s) => s.rejected)
  })
}
rmSync(dir, { recursive: true, force: true })
service.close()

report("coldstart", rows, {
  runs: RUNS,
  aim: "own_ms (median over node -e 0, NODE_EXTRA_CA_CERTS unset) <= 40 for --version, <= 60 for list and create"
})
report("coldstart-phases", phases, {
  runs: RUNS,
  note: "medians inside the process, NODE_EXTRA_CA_CERTS unset; command = lazy modules + parsing + the command + output"
})
