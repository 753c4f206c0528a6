/**
 * The built `swarm` as a real process, for what a newcomer meets first (issue 17): host names with
 * `_`, the one exit-code rule per class (2: the command line or the environment alone is wrong, with
 * the usage hint; 1: the file system, the network or a server said no, without it), errors that name
 * their source (the flag, the env var, the bad value), `watch` saying how it hears of changes, `list`
 * in address order, and `serve` checking its listen address before it creates or opens anything.
 */
import { afterAll, afterEach, assert, beforeAll, describe, it } from "@effect/vitest"
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { createServer, type Server } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assertBuilt, runSwarm, spawnSwarm, stopAll } from "../support/cli.js"

const HINT = /\nRun 'swarm( \w+)? --help' for usage\.\n$/

let dir: string
beforeAll(() => {
  assertBuilt()
  dir = mkdtempSync(join(tmpdir(), `swarm-cli-errors-${process.pid}-`))
})
afterEach(() => stopAll())
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** Runs `swarm args`, expects exit 2 with the hint, and gives stderr's first line. */
const usage = async (args: ReadonlyArray<string>, env: Record<string, string> = {}) => {
  const result = await runSwarm(args, { env })
  assert.strictEqual(result.code, 2, result.stderr)
  assert.strictEqual(result.stdout, "")
  assert.match(result.stderr, HINT)
  return result.stderr.split("\n")[0]!
}

/** Runs `swarm args`, expects exit 1 without the hint, and gives stderr. */
const failure = async (args: ReadonlyArray<string>, env: Record<string, string> = {}) => {
  const result = await runSwarm(args, { env })
  assert.strictEqual(result.code, 1, result.stderr)
  assert.notInclude(result.stderr, "--help' for usage")
  return result.stderr
}

describe("host names as Swarm accepts them", () => {
  it("list nodes://host-a:2375,host_b:80 lists both", async () => {
    const result = await runSwarm(["list", "nodes://host-a:2375,host_b:80"])
    assert.strictEqual(result.code, 0, result.stderr)
    assert.strictEqual(result.stdout, "host-a:2375\nhost_b:80\n")
  })

  it("the other rules stay: a space or a leading '-' in a label is refused (exit 2)", async () => {
    assert.include(await usage(["list", "nodes://my host:80"]), 'host "my host" has characters other than')
    assert.include(await usage(["list", "nodes://-a.example:80"]), 'label "-a"')
  })
})

describe("exit 2: what the command line or the environment alone shows wrong", () => {
  it("a bad --log-level names the flag and the value, not 'Invalid subcommand'", async () => {
    assert.strictEqual(
      await usage(["--log-level", "loud", "list", "nodes://a:1"]),
      'swarm: --log-level: expected all, trace, debug, info, warning, error, fatal or none, got "loud"'
    )
  })

  it("a bad --completions names the flag and the value", async () => {
    assert.strictEqual(
      await usage(["--completions", "powershell"]),
      'swarm: --completions: expected sh, bash, fish or zsh, got "powershell"'
    )
  })

  it("a mistyped command gets 'did you mean'", async () => {
    assert.strictEqual(
      await usage(["lst", "nodes://a:1"]),
      `swarm: unknown command "lst" (did you mean 'list'?); the commands are join, list, watch, create, serve`
    )
  })

  it("a bad --discovery-opt value (token.timeout) names the option and the value", async () => {
    // Judged from the command line alone: nothing is contacted (port 1 would refuse).
    const first = await usage([
      "list",
      "--discovery-opt",
      "token.timeout=abc",
      "token://http://127.0.0.1:1/v1/0123456789abcdef0123456789abcdef"
    ])
    assert.include(first, "token.timeout")
    assert.include(first, "abc")
  })

  it("list --format yaml names --format", async () => {
    assert.strictEqual(
      await usage(["list", "--format", "yaml", "nodes://a:1"]),
      'swarm list: --format: expected text or json, got "yaml"'
    )
  })

  it("a bad SWARM_ADVERTISE names the env var, not --advertise", async () => {
    const line = await usage(["join", "memory://x"], { SWARM_ADVERTISE: "no-port" })
    assert.match(line, /^swarm join: SWARM_ADVERTISE: invalid address "no-port": missing port/)
    // Typed, the same value is blamed on the flag.
    const typed = await usage(["join", "--advertise", "no-port", "memory://x"], { SWARM_ADVERTISE: "a:1" })
    assert.match(typed, /^swarm join: --advertise: invalid address "no-port"/)
  })

  it("a bad SWARM_DISCOVERY names the env var", async () => {
    assert.strictEqual(
      await usage(["list"], { SWARM_DISCOVERY: "bogus://x" }),
      'swarm list: SWARM_DISCOVERY: discovery service not supported: "bogus" (use one of token, file, nodes, etcd, zk, consul, memory)'
    )
    assert.match(
      await usage(["list"], { SWARM_DISCOVERY: "nodes://a:1,b" }),
      /^swarm list: SWARM_DISCOVERY: invalid address "b": missing port/
    )
    // Typed, the URL needs no label.
    assert.match(await usage(["list", "bogus://x"]), /^swarm list: discovery service not supported/)
  })

  it("a bad address typed in a nodes:// URL", async () => {
    assert.match(await usage(["list", "nodes://10.0.0.1:2375,bad"]), /^swarm list: invalid address "bad"/)
  })
})

describe("exit 1: what needs the file system, the network or a server to judge", () => {
  it("an unreadable --tlscert", async () => {
    const missing = join(dir, "missing-cert.pem")
    const stderr = await failure(["serve", "--store", "memory://", "--tlscert", missing, "--tlskey", missing])
    assert.include(stderr, `swarm serve: --tlscert ${JSON.stringify(missing)}: cannot read it`)
  })

  it("a file:// file with a bad line names the file and the line", async () => {
    const file = join(dir, "cluster")
    writeFileSync(file, "10.0.0.1:2375\nnot an address\n")
    const stderr = await failure(["list", `file://${file}`])
    assert.include(stderr, `invalid address "not an address": missing port (in ${file} line 2)`)
  })

  it("a missing file:// file", async () => {
    const stderr = await failure(["list", `file://${join(dir, "nowhere")}`])
    assert.include(stderr, join(dir, "nowhere"))
  })

  it("an admin token file whose first line is too short", async () => {
    const file = join(dir, "admin-token")
    writeFileSync(file, "short\n")
    const stderr = await failure([
      "serve",
      "--store",
      "memory://",
      "--listen",
      "127.0.0.1:0",
      "--admin-token-file",
      file
    ])
    assert.include(stderr, "its first line holds 5 characters")
  })
})

/** A `swarm serve` on a free loopback port, memory store; `stopAll` (afterEach) stops it. */
const serve = async (): Promise<string> => {
  const server = spawnSwarm(["serve", "--store", "memory://", "--listen", "127.0.0.1:0"])
  const line = await server.waitForLine("stderr", /listening on 127\.0\.0\.1:\d+/, { timeoutMs: 20_000 })
  return `http://127.0.0.1:${/listening on 127\.0\.0\.1:(\d+)/.exec(line)![1]}/v1`
}

describe("a server's refusal (403), and a token:// watch", () => {
  it("join on a read-only token keeps running: the refusal is logged and retried each heartbeat; SIGTERM ends it with 0", async () => {
    const url = await serve()
    const created = await runSwarm(["create", "--url", url])
    assert.strictEqual(created.code, 0, created.stderr)
    const token = created.stdout.trim()
    const read = await runSwarm(["create", "--url", url, "--read-token", token])
    assert.strictEqual(read.code, 0, read.stderr)
    const join = spawnSwarm([
      "join",
      "--advertise",
      "10.0.0.1:2375",
      "--heartbeat",
      "1s",
      "--ttl",
      "3s",
      `token://${url}/${read.stdout.trim()}`
    ])
    const refused = /registration of 10\.0\.0\.1:2375 failed, retrying at the next heartbeat: .*403/
    await join.waitForLine("stderr", refused, { timeoutMs: 15_000 })
    // A second refusal, a heartbeat later: still running.
    const first = join.lines.stderr.findIndex((l) => refused.test(l))
    await join.waitForLine("stderr", refused, { timeoutMs: 15_000, after: first + 1 })
    join.kill("SIGTERM")
    const exited = await join.exited
    assert.strictEqual(exited.code, 0, exited.stderr)
    // Nothing was registered through the read-only token.
    const list = await runSwarm(["list", `token://${url}/${token}`])
    assert.strictEqual(list.stdout, "")
  })

  it("watch on token:// says it long-polls, falling back to polling at the heartbeat", async () => {
    const url = await serve()
    const created = await runSwarm(["create", "--url", url])
    assert.strictEqual(created.code, 0, created.stderr)
    const watch = spawnSwarm(["watch", `token://${url}/${created.stdout.trim()}`])
    const line = await watch.waitForLine("stderr", "watching")
    assert.match(
      line,
      /watching token:\/\/.*: long-poll, falling back to polling every 1m0s when the server sends no X-Discovery-Index$/
    )
    assert.notInclude(line, created.stdout.trim(), "the token is redacted")
  })
})

describe("honest output", () => {
  it("watch says what it does per backend", async () => {
    const file = join(dir, "watched")
    writeFileSync(file, "10.0.0.1:2375\n")
    const cases: ReadonlyArray<readonly [string, RegExp]> = [
      [`file://${file}`, /: file watch, and a re-read every 5s$/],
      ["nodes://10.0.0.1:2375", /: a static list, it does not change$/],
      ["memory://here", /: in-process memory store, changes at once$/]
    ]
    for (const [url, how] of cases) {
      const watch = spawnSwarm(["watch", "--heartbeat", "5s", url])
      assert.match(await watch.waitForLine("stderr", "watching"), how, url)
      assert.notInclude(watch.lines.stderr.join("\n"), "polling every")
      watch.kill()
      await watch.exited
    }
  })

  it("list and watch print in address order: IPv4 numerically, then IPv6, then names, then port", async () => {
    const url = "nodes://b:1,10.0.0.10:2375,[2001:db8::a]:1,a:2,10.0.0.8:2375,[::1]:7,a:1,9.1.1.1:80"
    const expected = [
      "9.1.1.1:80",
      "10.0.0.8:2375",
      "10.0.0.10:2375",
      "[::1]:7",
      "[2001:db8::a]:1",
      "a:1",
      "a:2",
      "b:1"
    ]
    const list = await runSwarm(["list", url])
    assert.strictEqual(list.stdout, expected.map((e) => `${e}\n`).join(""))
    const json = await runSwarm(["list", "--format", "json", url])
    assert.deepStrictEqual(JSON.parse(json.stdout), expected)
    const watch = spawnSwarm(["watch", url])
    await watch.waitForLine("stdout", "b:1")
    assert.deepStrictEqual(watch.lines.stdout.slice(0, expected.length), expected)
  })
})

describe("serve checks its listen address before it creates or opens anything", () => {
  let taken: Server
  let port: number
  beforeAll(async () => {
    taken = createServer()
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve))
    port = (taken.address() as { port: number }).port
  })
  afterAll(() => new Promise<void>((resolve) => taken.close(() => resolve())))

  it("a port in use: exit 1 naming the address, no data dir created, no store 'closed'", async () => {
    const data = join(dir, "serve-data")
    const stderr = await failure(["serve", "--listen", `127.0.0.1:${port}`, "--data-dir", data])
    assert.include(stderr, `cannot listen on 127.0.0.1:${port}: the address is already in use`)
    assert.isFalse(existsSync(data), "the data dir was not created")
    assert.notInclude(stderr, "stopped;")
    assert.notInclude(stderr, "sqlite")
  })
})
