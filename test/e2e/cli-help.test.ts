/**
 * The built `swarm` as a real process: the help of every command (reads like a man page: no
 * @effect/cli filler, lines of at most 100 columns, defaults and env vars from the definitions), and
 * the one exit-code rule (0 success, 2 a mistake in what was typed, 1 a failure at run time) across
 * every command.
 */
import { afterAll, afterEach, assert, beforeAll, describe, it } from "@effect/vitest"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { createServer, type Server } from "node:http"
import { createServer as createTcpServer, type Server as TcpServer } from "node:net"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { assertBuilt, runSwarm, stopAll } from "../support/cli.js"
import { refusedPort } from "../support/net.js"

const COMMANDS = ["join", "list", "watch", "create", "serve"] as const
const FILLER = [/user-defined piece of text/i, /this setting is optional/i, /may be repeated zero or more/i]

const lines = (text: string) => text.split("\n")
/** Help with each option's wrapped description joined onto one line after its term. */
const unwrapped = (text: string) => text.replace(/\n {6}/g, " ")

let closed: number
let silent: TcpServer
let failing: Server
let failingPort: number
beforeAll(async () => {
  assertBuilt()
  // A port nobody listens on: connections are refused.
  closed = await refusedPort()
  // A service that accepts and never answers; one that answers every request with a 500.
  silent = createTcpServer(() => {})
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve))
  failing = createServer((_, res) => res.writeHead(500, { "content-type": "text/plain" }).end("boom"))
  await new Promise<void>((resolve) => failing.listen(0, "127.0.0.1", resolve))
  failingPort = (failing.address() as { port: number }).port
})
afterEach(() => stopAll())
afterAll(() => {
  silent.close()
  failing.close()
})

describe("swarm --help", () => {
  for (const command of [undefined, ...COMMANDS]) {
    const name = command ?? "(root)"
    it(`${name}: no filler, at most 100 columns, one header`, async () => {
      const result = await runSwarm(command === undefined ? ["--help"] : [command, "--help"])
      assert.strictEqual(result.code, 0, result.stderr)
      assert.strictEqual(result.stderr, "")
      for (const filler of FILLER) assert.notMatch(result.stdout, filler)
      for (const line of lines(result.stdout)) assert.isAtMost(line.length, 100, line)
      const first = lines(result.stdout)[0]!
      assert.match(
        first,
        command === undefined ? /^swarm \d+\.\d+\.\d+\S*: / : new RegExp(`^swarm ${command}: `)
      )
      assert.strictEqual(lines(result.stdout).filter((l) => /^swarm( |$)/.test(l)).length, 1)
      // The footer is for the root help only.
      const footer = ["GLOBAL OPTIONS", "ENVIRONMENT", "EXIT CODES"].filter((h) => result.stdout.includes(h))
      assert.deepStrictEqual(
        footer,
        command === undefined ? ["GLOBAL OPTIONS", "ENVIRONMENT", "EXIT CODES"] : []
      )
    })
  }

  it("the root help has one synopsis line per command, and the exit-code rule", async () => {
    const { stdout } = await runSwarm(["--help"])
    for (const command of COMMANDS) {
      assert.strictEqual(lines(stdout).filter((l) => l.startsWith(`  swarm ${command} `)).length, 1, command)
    }
    assert.match(stdout, /^ {2}0 +Success/m)
    assert.match(stdout, /^ {2}1 +What needs the file system, the network or a server to judge/m)
    assert.match(stdout, /^ {2}2 +What the command line and the environment alone show wrong/m)
    // Env vars come from the options' definitions.
    for (const env of ["SWARM_DISCOVERY", "SWARM_ADVERTISE", "SWARM_TOKEN_URL", "SWARM_LOG_LEVEL"]) {
      assert.match(stdout, new RegExp(`^ {2}${env} `, "m"), env)
    }
  })

  it("each option once, with its value, default, env var, and required/repeatable marks", async () => {
    const join = (await runSwarm(["join", "--help"])).stdout
    const expectations: ReadonlyArray<readonly [string, string]> = [
      ["--advertise, --addr host:port", "Required unless SWARM_ADVERTISE is set."],
      ["--heartbeat duration", "Default: 60s."],
      ["--ttl duration", "Default: 180s."],
      ["--delay duration", "Default: 0s."],
      ["--discovery-opt key=value", "Repeatable."],
      ["<discovery>", "Required unless SWARM_DISCOVERY is set."]
    ]
    for (const [term, fact] of expectations) {
      const at = lines(join).findIndex((l) => l === `  ${term}`)
      assert.isAtLeast(at, 0, `${term} in:\n${join}`)
      const rest = lines(join).slice(at + 1)
      const end = rest.findIndex((l) => !l.startsWith("      "))
      const body = rest
        .slice(0, end < 0 ? undefined : end)
        .join(" ")
        .replace(/\s+/g, " ")
      assert.include(body, fact, term)
      assert.strictEqual(lines(join).filter((l) => l.trim().startsWith(term)).length, 1, `${term} once`)
    }
    const list = unwrapped((await runSwarm(["list", "--help"])).stdout)
    assert.match(list, /--timeout duration .*Default: 10s\./)
    assert.match(list, /--format text\|json .*Default: text\./)
    const create = unwrapped((await runSwarm(["create", "--help"])).stdout)
    assert.match(create, /--url url .*Default: http:\/\/127\.0\.0\.1:8375\/v1\. Env: SWARM_TOKEN_URL\./)
    const serve = unwrapped((await runSwarm(["serve", "--help"])).stdout)
    assert.match(serve, /--listen host:port .*Default: 127\.0\.0\.1:8375\./)
    assert.match(serve, /--max-ttl duration .*Default: 1h\./)
    assert.match(serve, /--tlsverify /)
    assert.notMatch(serve, /Default \d/, "no default typed in prose")
  })
})

describe("exit codes: 2 for a mistake in what was typed", () => {
  const cases: ReadonlyArray<readonly [string, ReadonlyArray<string>, Record<string, string>?]> = [
    ["unknown option (join)", ["join", "--advertise", "a:1", "--nope", "memory://x"]],
    ["unknown option (serve)", ["serve", "--nope"]],
    ["bad value (list --timeout)", ["list", "--timeout", "soon", "a:1"]],
    ["bad value (watch --format)", ["watch", "--format", "yaml", "a:1"]],
    ["bad value (serve --listen)", ["serve", "--listen", "nowhere"]],
    ["bad value (create --discovery-opt)", ["create", "--discovery-opt", "x"]],
    ["bad URL (list)", ["list", "bogus://x"]],
    ["bad range (list)", ["list", "nodes://10.0.0.[5:1]:2375"]],
    ["bad range (watch)", ["watch", "10.0.0.[a:3]:2375"]],
    ["bad env var (SWARM_DISCOVERY)", ["list"], { SWARM_DISCOVERY: "bogus://x" }],
    ["bad env var (SWARM_ADVERTISE)", ["join", "memory://x"], { SWARM_ADVERTISE: "no-port" }],
    ["missing value (join)", ["join", "memory://x"]],
    ["unknown command", ["frobnicate"]]
  ]
  for (const [name, args, env] of cases) {
    it(name, async () => {
      const result = await runSwarm(args, { env: env ?? {} })
      assert.strictEqual(result.code, 2, result.stderr)
      assert.strictEqual(result.stdout, "")
      assert.match(result.stderr, /^swarm( \w+)?: /)
    })
  }
})

describe("exit codes: 1 for a failure at run time", () => {
  it("unreachable backend (list, create)", async () => {
    const list = await runSwarm(["list", `token://http://127.0.0.1:${closed}/v1/${"ab".repeat(16)}`])
    assert.strictEqual(list.code, 1, list.stderr)
    assert.include(list.stderr, "unavailable")
    const create = await runSwarm(["create", "--url", `http://127.0.0.1:${closed}/v1`])
    assert.strictEqual(create.code, 1, create.stderr)
    assert.strictEqual(create.stdout, "")
  })

  it("timeout (list)", async () => {
    const port = (silent.address() as { port: number }).port
    const result = await runSwarm([
      "list",
      "--timeout",
      "500ms",
      `token://http://127.0.0.1:${port}/v1/${"cd".repeat(16)}`
    ])
    assert.strictEqual(result.code, 1, result.stderr)
    assert.include(result.stderr, "within 500ms")
  })

  it("server error (create, list)", async () => {
    const create = await runSwarm(["create"], {
      env: { SWARM_TOKEN_URL: `http://127.0.0.1:${failingPort}/v1` }
    })
    assert.strictEqual(create.code, 1, create.stderr)
    assert.include(create.stderr, "500")
    const list = await runSwarm(["list", `token://http://127.0.0.1:${failingPort}/v1/${"ef".repeat(16)}`])
    assert.strictEqual(list.code, 1, list.stderr)
  })

  it("a store that cannot open (serve)", async () => {
    // The data directory would have to be inside a regular file.
    const file = join(mkdtempSync(join(tmpdir(), "swarm-exit-")), "file")
    writeFileSync(file, "")
    const result = await runSwarm(["serve", "--listen", "127.0.0.1:0", "--data-dir", join(file, "data")])
    assert.strictEqual(result.code, 1, result.stderr)
    assert.include(result.stderr, "cannot create the data directory")
    rmSync(dirname(file), { recursive: true, force: true })
  })

  it("a backend that cannot register (join)", async () => {
    const result = await runSwarm(["join", "--advertise", "10.0.0.1:2375", "nodes://10.0.0.2:2375"])
    assert.strictEqual(result.code, 1, result.stderr)
  })
})

describe("output discipline", () => {
  it("list at the default level prints the members on stdout and nothing on stderr", async () => {
    const result = await runSwarm(["list", "nodes://10.0.0.[1:2]:2375"])
    assert.strictEqual(result.code, 0)
    assert.strictEqual(result.stdout, "10.0.0.1:2375\n10.0.0.2:2375\n")
    assert.strictEqual(result.stderr, "")
  })
})
