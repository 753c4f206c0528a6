/**
 * The built `swarm` (dist/swarm.cjs) as a real process: list, join validation, join on backends that
 * cannot register, env fallbacks, signals, watch, help, version and colours.
 */
import { afterAll, afterEach, assert, beforeAll, describe, it } from "@effect/vitest"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as Path from "node:path"
import { assertBuilt, runSwarm, spawnSwarm, stopAll } from "../support/cli.js"
import { refusedPort } from "../support/net.js"

const ANSI = /\u001b\[/
const lines = (text: string) => text.split("\n").filter((l) => l !== "")

let dir: string
beforeAll(() => {
  assertBuilt()
  dir = mkdtempSync(Path.join(tmpdir(), "swarm-cli-e2e-"))
})
afterEach(() => stopAll())
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe("swarm list", () => {
  it("nodes://: expands ranges, one host:port per line", async () => {
    const result = await runSwarm(["list", "nodes://10.0.0.[1:3]:2375,[2001:db8::1]:[2375:2376]"])
    assert.strictEqual(result.code, 0, result.stderr)
    const expected = ["10.0.0.1", "10.0.0.2", "10.0.0.3"].map((h) => `${h}:2375`)
    for (const port of [2375, 2376]) expected.push(`[2001:db8::1]:${port}`)
    assert.sameMembers(lines(result.stdout), expected)
    assert.strictEqual(lines(result.stdout).length, 5)
  })

  it("nodes:// as JSON, and a bare list means nodes://", async () => {
    const result = await runSwarm(["list", "--format", "json", "192.168.1.2:[2:4]375"])
    assert.strictEqual(result.code, 0, result.stderr)
    assert.sameMembers(JSON.parse(result.stdout), [
      "192.168.1.2:2375",
      "192.168.1.2:3375",
      "192.168.1.2:4375"
    ])
  })

  it("a bad range says where the problem is, exit 2 (a typing mistake)", async () => {
    const result = await runSwarm(["list", "nodes://10.0.0.[5:1]:2375"])
    assert.strictEqual(result.code, 2)
    assert.strictEqual(result.stdout, "")
    assert.match(result.stderr, /^swarm list: .*10\.0\.0\.\[5:1\]:2375/)
  })

  it("file://: comments, inline comments, blank lines and whitespace", async () => {
    const file = Path.join(dir, "cluster")
    writeFileSync(
      file,
      [
        "# the cluster",
        "",
        "  10.0.0.1:2375  ",
        "10.0.0.[2:3]:2375 # two more",
        "   ",
        "#10.0.0.9:2375",
        ""
      ].join("\n")
    )
    const text = await runSwarm(["list", `file://${file}`])
    assert.strictEqual(text.code, 0, text.stderr)
    assert.deepStrictEqual(lines(text.stdout), ["10.0.0.1:2375", "10.0.0.2:2375", "10.0.0.3:2375"])
    const json = await runSwarm(["list", "--format=json", `file://${file}`])
    assert.deepStrictEqual(JSON.parse(json.stdout), ["10.0.0.1:2375", "10.0.0.2:2375", "10.0.0.3:2375"])
  })

  it("file://: a missing file names the path, exit 1", async () => {
    const missing = Path.join(dir, "nope")
    const result = await runSwarm(["list", `file://${missing}`])
    assert.strictEqual(result.code, 1)
    assert.include(result.stderr, missing)
  })

  it("takes SWARM_DISCOVERY when no URL is given", async () => {
    const result = await runSwarm(["list"], { env: { SWARM_DISCOVERY: "nodes://10.9.8.7:1" } })
    assert.strictEqual(result.code, 0, result.stderr)
    assert.strictEqual(result.stdout, "10.9.8.7:1\n")
  })

  it("--timeout: a service that never answers gives a timeout error, and the token stays hidden", async () => {
    // A port that accepts connections and never answers.
    const { createServer } = await import("node:net")
    const server = createServer(() => {})
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    const port = (server.address() as { port: number }).port
    try {
      const token = "0123456789abcdef0123456789abcdef"
      // The same list against a port that refuses at once: the same start and code path, without the wait.
      const closed = await refusedPort()
      const refused = () =>
        runSwarm(["list", "--timeout", "1s", `token://http://127.0.0.1:${closed}/v1/${token}`])
      const before = await refused()
      const result = await runSwarm([
        "list",
        "--timeout",
        "1s",
        `token://http://127.0.0.1:${port}/v1/${token}`
      ])
      const after = await refused()
      assert.strictEqual(result.code, 1)
      assert.match(result.stderr, /^swarm list: /)
      assert.notInclude(result.stderr + result.stdout, token)
      for (const r of [before, after]) assert.include(r.stderr, "ECONNREFUSED")
      // It waited for its --timeout (the server never answers), and gave up then: 1s over the slower of the
      // two baselines around it (the load of the moment), plus half a second for process-to-process noise.
      const baseline = Math.max(before.ms, after.ms)
      assert.isAtLeast(result.ms, 1_000)
      assert.isBelow(result.ms - baseline, 1_500, `${result.ms}ms; baselines ${before.ms}, ${after.ms}ms`)
    } finally {
      server.close()
    }
  })
})

describe("swarm join: validation", () => {
  const advertise = ["--advertise", "10.0.0.1:2375"]
  const cases: ReadonlyArray<readonly [string, ReadonlyArray<string>, string]> = [
    ["missing --advertise", ["memory://x"], "missing --advertise"],
    ["advertise without a port", ["--advertise", "10.0.0.1", "memory://x"], "--advertise: invalid address"],
    [
      "advertise with port 0",
      ["--advertise=10.0.0.1:0", "memory://x"],
      `--advertise: invalid address "10.0.0.1:0": port 0 is out of range`
    ],
    [
      "heartbeat below 1s",
      [...advertise, "--heartbeat", "500ms", "memory://x"],
      "--heartbeat: must be at least 1s"
    ],
    [
      "ttl not above heartbeat",
      [...advertise, "--heartbeat=20s", "--ttl=20s", "memory://x"],
      "--ttl (20s) must be greater than --heartbeat (20s)"
    ],
    [
      "negative delay",
      [...advertise, "--delay", "-1s", "memory://x"],
      `--delay: invalid duration "-1s": must not be negative`
    ],
    ["bad duration", [...advertise, "--ttl", "3 minutes", "memory://x"], "--ttl: invalid duration"],
    [
      "bad discovery-opt",
      [...advertise, "--discovery-opt", "novalue", "memory://x"],
      "--discovery-opt expects key=value"
    ],
    ["unsupported scheme", [...advertise, "foo://bar"], "discovery service not supported"],
    ["option without a value", [...advertise, "--heartbeat"], "option --heartbeat needs a value"],
    [
      "option followed by an option",
      ["--heartbeat", ...advertise, "memory://x"],
      "option --heartbeat needs a value"
    ],
    [
      "unknown option",
      [...advertise, "--hartbeat", "5s", "memory://x"],
      "unknown option --hartbeat (did you mean --heartbeat?)"
    ],
    ["missing URL", [...advertise], "missing <discovery>: give it as an argument or set SWARM_DISCOVERY"]
  ]
  for (const [name, args, message] of cases) {
    it(`${name}: exit 2 with one clear message`, async () => {
      const result = await runSwarm(["join", ...args])
      assert.strictEqual(result.code, 2, result.stderr)
      assert.strictEqual(result.stdout, "")
      const [first, hint, ...rest] = lines(result.stderr)
      assert.include(first, `swarm join: ${message}`)
      assert.strictEqual(hint, "Run 'swarm join --help' for usage.")
      assert.deepStrictEqual(rest, [])
    })
  }
})

describe("swarm join: running", () => {
  for (const url of ["nodes://10.0.0.2:2375", "file:///etc/hosts"]) {
    it(`${url.split(":")[0]}:// cannot register: exit 1 at once`, async () => {
      const result = await runSwarm(["join", "--advertise", "10.0.0.1:2375", "--delay", "30s", url])
      assert.strictEqual(result.code, 1)
      assert.include(result.stderr, "cannot register")
      assert.isBelow(result.ms, 5_000)
    })
  }

  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    it(`registers, and on ${signal} leaves and exits 0 (env fallbacks for both flags)`, async () => {
      const join = spawnSwarm(["join", "--heartbeat", "1s"], {
        env: { SWARM_ADVERTISE: "10.0.0.5:2375", SWARM_DISCOVERY: "memory://e2e", SWARM_LOG_LEVEL: "debug" }
      })
      await join.waitForLine("stderr", "registered 10.0.0.5:2375")
      join.kill(signal)
      const result = await join.exited
      assert.strictEqual(result.code, 0, result.stderr)
      assert.include(result.stderr, "joining memory://e2e as 10.0.0.5:2375 every 1s (ttl 3m0s)")
      assert.include(result.stderr, "left: deregistered 10.0.0.5:2375")
      assert.strictEqual(result.stdout, "")
    })
  }
})

describe("swarm watch", () => {
  it("prints the members, then + and - lines as the file changes; exit 0 on SIGTERM", async () => {
    const file = Path.join(dir, "watched")
    writeFileSync(file, "10.0.0.1:2375\n10.0.0.2:2375\n")
    const watch = spawnSwarm(["watch", "--heartbeat", "1s", `file://${file}`])
    await watch.waitForLine("stdout", "10.0.0.2:2375")
    writeFileSync(file, "10.0.0.2:2375\n10.0.0.3:2375\n")
    await watch.waitForLine("stdout", "+ 10.0.0.3:2375")
    watch.kill("SIGTERM")
    const result = await watch.exited
    assert.strictEqual(result.code, 0, result.stderr)
    assert.deepStrictEqual(lines(result.stdout), [
      "10.0.0.1:2375",
      "10.0.0.2:2375",
      "- 10.0.0.1:2375",
      "+ 10.0.0.3:2375"
    ])
    assert.strictEqual(readFileSync(file, "utf8"), "10.0.0.2:2375\n10.0.0.3:2375\n")
  })

  it("--format json prints one object per line", async () => {
    const watch = spawnSwarm(["watch", "--format=json", "nodes://10.0.0.[1:2]:2375"])
    const first = await watch.waitForLine("stdout", /added/)
    watch.kill("SIGINT")
    assert.deepStrictEqual(JSON.parse(first), { added: ["10.0.0.1:2375", "10.0.0.2:2375"], removed: [] })
    assert.strictEqual((await watch.exited).code, 0)
  })
})

describe("swarm: help, version, colours", () => {
  it("--version prints the package version", async () => {
    const { version } = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8"))
    const result = await runSwarm(["--version"])
    assert.strictEqual(result.code, 0)
    assert.strictEqual(result.stdout, `${version}\n`)
  })

  it("--help lists every command, with no colour codes on a pipe", async () => {
    const result = await runSwarm(["--help"])
    assert.strictEqual(result.code, 0)
    for (const command of ["join", "list", "watch", "create", "serve"]) assert.include(result.stdout, command)
    assert.notMatch(result.stdout, ANSI)
  })

  it("a subcommand's usage names the full command; NO_COLOR keeps errors plain too", async () => {
    const help = await runSwarm(["join", "--help"], { env: { NO_COLOR: "1" } })
    assert.include(help.stdout, "  swarm join --advertise host:port [options] <discovery>\n")
    assert.notMatch(help.stdout, ANSI)
    const error = await runSwarm(["list", "--format", "yaml", "a:1"], { env: { NO_COLOR: "1" } })
    assert.strictEqual(error.code, 2)
    assert.notMatch(error.stderr, ANSI)
    assert.match(error.stderr, /^swarm list: /)
  })

  it("an unknown command is a usage error", async () => {
    const result = await runSwarm(["frobnicate"])
    assert.strictEqual(result.code, 2)
    assert.include(result.stderr, "the commands are join, list, watch, create, serve")
  })
})
