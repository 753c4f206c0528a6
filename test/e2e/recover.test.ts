/**
 * A damaged database, end to end: `swarm serve` on a file with 512 bytes of
 * noise written into its middle refuses to start (exit 1, one clear message,
 * no stack trace), and `swarm serve --recover` starts with what is readable.
 */
import { closeSync, mkdtempSync, openSync, readdirSync, rmSync, statSync, writeSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { runSwarm, spawnSwarm, stopAll } from "../support/cli.js"
import { freePort } from "../support/net.js"

const dirs: Array<string> = []
afterAll(async () => {
  await stopAll()
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

const ENTRIES = 3000
const CLUSTERS = 300
const token = (c: number) => c.toString(16).padStart(32, "0")
const address = (i: number) => `10.1.${i >> 8}.${i & 255}:2375`

const serve = async (dataDir: string, extra: ReadonlyArray<string> = []) => {
  const port = await freePort()
  const proc = spawnSwarm(["serve", "--listen", `127.0.0.1:${port}`, "--data-dir", dataDir, ...extra])
  const listening = await proc.waitForLine("stderr", /listening on/, { timeoutMs: 20_000 })
  return { proc, base: `http://127.0.0.1:${port}/v1/clusters`, listening }
}

const countAll = async (base: string) => {
  let n = 0
  for (let c = 0; c < CLUSTERS; c++)
    n += ((await (await fetch(`${base}/${token(c)}`)).json()) as Array<string>).length
  return n
}

describe("swarm serve on a damaged database", () => {
  it("refuses to start, then --recover starts with what is readable", { timeout: 120_000 }, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "swarm-recover-"))
    dirs.push(dataDir)
    // 300 clusters from one client address: past the default new-cluster rate, which this test is not about.
    const first = await serve(dataDir, ["--max-new-clusters-per-minute", "100000"])
    for (let i = 0; i < ENTRIES; i += 100) {
      await Promise.all(
        Array.from({ length: 100 }, async (_, j) => {
          const res = await fetch(`${first.base}/${token((i + j) % CLUSTERS)}?ttl=3600`, {
            method: "POST",
            body: address(i + j)
          })
          assert.strictEqual(res.status, 200)
        })
      )
    }
    assert.strictEqual(await countAll(first.base), ENTRIES)
    first.proc.kill("SIGTERM")
    assert.strictEqual((await first.proc.exited).code, 0)

    const file = join(dataDir, "discovery.db")
    const size = statSync(file).size
    const fd = openSync(file, "r+")
    const noise = Buffer.alloc(512)
    for (let i = 0; i < noise.length; i++) noise[i] = (i * 151 + 89) & 255
    writeSync(fd, noise, 0, noise.length, Math.floor(size / 2))
    closeSync(fd)

    const port = await freePort()
    const refused = await runSwarm(["serve", "--listen", `127.0.0.1:${port}`, "--data-dir", dataDir])
    assert.strictEqual(refused.code, 1, refused.stderr)
    assert.include(refused.stderr, file)
    assert.include(refused.stderr, "is damaged")
    assert.include(refused.stderr, "--recover")
    assert.notMatch(refused.stderr, /^\s+at /m, "no stack trace")
    assert.strictEqual(statSync(file).size, size, "the refused file is left as it was")

    const second = await serve(dataDir, ["--recover"])
    const told = second.proc.lines.stderr.find((l) => l.includes("--recover:"))
    assert.isDefined(told)
    const recovered = Number(/(\d+) entries copied/.exec(told ?? "")?.[1])
    assert.isAbove(recovered, ENTRIES / 2)
    assert.isAtMost(recovered, ENTRIES)
    assert.strictEqual(await countAll(second.base), recovered)
    const aside = readdirSync(dataDir).filter((f) => f.startsWith("discovery.db.damaged-"))
    assert.include(
      aside,
      aside.find((f) => !f.endsWith("-wal"))
    )
    assert.include(told ?? "", join(dataDir, aside[0]!.replace(/-wal$/, "")))
    // It works as before: a new registration lands and lists.
    const res = await fetch(`${second.base}/${token(0)}?ttl=60`, { method: "POST", body: "10.9.9.9:2375" })
    assert.strictEqual(res.status, 200)
    const listed = (await (await fetch(`${second.base}/${token(0)}`)).json()) as Array<string>
    assert.include(listed, "10.9.9.9:2375")
    second.proc.kill("SIGTERM")
    assert.strictEqual((await second.proc.exited).code, 0)
  })
})
