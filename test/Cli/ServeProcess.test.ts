/**
 * `swarm serve` as a real process (the built dist/swarm.cjs): start-up
 * output, SIGTERM, and `kill -9` then a restart on the same data directory.
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { gates, SWARM } from "../support/gate.js"
import { freePort } from "../support/net.js"
import { request } from "../support/http.js"

const dirs: Array<string> = []
const children = new Set<ChildProcess>()
afterAll(() => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL")
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), "swarm-serve-"))
  dirs.push(dir)
  return dir
}

interface Running {
  readonly child: ChildProcess
  readonly origin: string
  stderr: string
  readonly exited: Promise<number | null>
}

/** Starts `swarm serve` and waits for its instructions (printed once it listens). */
const start = async (args: ReadonlyArray<string>, env: Record<string, string> = {}): Promise<Running> => {
  const port = await freePort()
  const child = spawn(process.execPath, [SWARM, "serve", "--listen", `127.0.0.1:${port}`, ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  children.add(child)
  const running: Running = {
    child,
    origin: `http://127.0.0.1:${port}`,
    stderr: "",
    exited: new Promise((resolve) => child.once("exit", (code) => resolve(code)))
  }
  child.stderr!.on("data", (chunk: Buffer) => {
    running.stderr += chunk.toString("utf8")
  })
  const deadline = Date.now() + 15_000
  while (!running.stderr.includes("npx swarm list")) {
    if (child.exitCode !== null) throw new Error(`serve exited ${child.exitCode}: ${running.stderr}`)
    if (Date.now() > deadline) throw new Error(`serve did not start: ${running.stderr}`)
    await new Promise((r) => setTimeout(r, 50))
  }
  return running
}

/** Waits until the server's stderr matches (its pipe may lag behind the HTTP answers). */
const waitFor = async (server: Running, pattern: RegExp) => {
  const deadline = Date.now() + 5_000
  while (!pattern.test(server.stderr) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
}

const TOKEN = "00112233445566778899aabbccddeeff"
const C = `/v1/clusters/${TOKEN}`

describe.skipIf(!gates.built())("swarm serve process", () => {
  it("prints how to create, join and list; SIGTERM answers long-polls and exits 0", async () => {
    const state = tempDir()
    const server = await start([], { XDG_STATE_HOME: state, SWARM_LOG_LEVEL: "debug" })
    assert.include(server.stderr, `npx swarm create --url ${server.origin}/v1`)
    assert.include(
      server.stderr,
      `npx swarm join --advertise 10.0.0.1:2375 token://${server.origin}/v1/$TOKEN`
    )
    assert.match(server.stderr, /INFO listening on 127\.0\.0\.1:[0-9]+ \(http\); store: sqlite /)
    // The default data dir is created under XDG_STATE_HOME.
    assert.isTrue(existsSync(join(state, "swarm-discovery", "discovery.db")))

    await request(server.origin, C, { method: "POST", body: "10.0.0.1:2375" })
    const index = (await request(server.origin, C)).headers["x-discovery-index"]
    const pending = request(server.origin, `${C}?index=${index}&wait=5m`)
    // Debug logs: one line per request, without the token.
    await waitFor(server, /DEBUG request method=GET route=list/)
    assert.match(
      server.stderr,
      /DEBUG request method=POST route=register cluster=0011… status=200 ms=[0-9.]+/
    )
    assert.match(server.stderr, /DEBUG request method=GET route=list cluster=0011… status=200/)
    assert.notInclude(server.stderr, TOKEN)
    await new Promise((r) => setTimeout(r, 200))
    server.child.kill("SIGTERM")
    const answer = await pending
    assert.strictEqual(answer.status, 200)
    assert.deepStrictEqual(JSON.parse(answer.body), ["10.0.0.1:2375"])
    assert.strictEqual(await server.exited, 0)
    await waitFor(server, /stopped;/)
    assert.include(server.stderr, "shutting down")
    assert.include(server.stderr, "stopped;")
  })

  it("kill -9 then restart on the same data dir: live entries listed at once, index not lower", async () => {
    const data = tempDir()
    const first = await start(["--data-dir", data])
    for (const address of ["10.0.0.1:2375", "10.0.0.2:2375"]) {
      const r = await request(first.origin, `${C}?ttl=600`, { method: "POST", body: address })
      assert.strictEqual(r.status, 200)
    }
    const short = await request(first.origin, `${C}?ttl=1`, { method: "POST", body: "10.0.0.3:2375" })
    assert.strictEqual(short.status, 200)
    const before = await request(first.origin, C)
    first.child.kill("SIGKILL")
    await first.exited
    await new Promise((r) => setTimeout(r, 1100))

    const second = await start(["--data-dir", data])
    const after = await request(second.origin, C)
    assert.deepStrictEqual(JSON.parse(after.body), ["10.0.0.1:2375", "10.0.0.2:2375"])
    assert.isAtLeast(Number(after.headers["x-discovery-index"]), Number(before.headers["x-discovery-index"]))
    second.child.kill("SIGTERM")
    assert.strictEqual(await second.exited, 0)
  })

  it("a second server on the same data dir fails with a clear message", async () => {
    const data = tempDir()
    const first = await start(["--data-dir", data])
    const port = await freePort()
    const second = spawnSync(
      process.execPath,
      [SWARM, "serve", "--listen", `127.0.0.1:${port}`, "--data-dir", data],
      {
        encoding: "utf8",
        timeout: 15_000
      }
    )
    assert.strictEqual(second.status, 1)
    assert.include(second.stderr, "in use by another process")
    first.child.kill("SIGTERM")
    assert.strictEqual(await first.exited, 0)
  })

  it("--store memory:// and flag errors", async () => {
    const server = await start(["--store", "memory://"])
    assert.include(server.stderr, "store: memory")
    const r = await request(server.origin, "/healthz")
    assert.strictEqual(r.status, 200)
    server.child.kill("SIGTERM")
    assert.strictEqual(await server.exited, 0)

    const bad = spawnSync(process.execPath, [SWARM, "serve", "--store", "etcd:///x"], {
      encoding: "utf8",
      timeout: 20_000
    })
    assert.strictEqual(bad.status, 2)
    assert.include(bad.stderr, "host:port")
    const busy = spawnSync(process.execPath, [SWARM, "serve", "--listen", "nope"], {
      encoding: "utf8",
      timeout: 20_000
    })
    assert.strictEqual(busy.status, 2)
    assert.include(busy.stderr, "--listen")
  })
})
