/**
 * file:// at scale with the built CLI: a 100,000-line file lists, and
 * `swarm watch` reports a 10% change (10,000 removed, 10,000 added) soon
 * after the file is replaced. The heartbeat is an hour, so the change must
 * come from the file watch. The time is printed (the aim is 2 s), not
 * asserted: timings are measured, not asserted, on this shared machine.
 */
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { requireBuilt, runSwarm, spawnSwarm, stop, stopAll, watchEvents } from "../support/token-e2e.js"

const dir = mkdtempSync(join(tmpdir(), "swarm-e2e-file-"))
beforeAll(() => requireBuilt())
afterAll(async () => {
  await stopAll()
  rmSync(dir, { recursive: true, force: true })
})

const N = 100_000
const address = (i: number) => `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}:2375`
const lines = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => address(from + k))

/** Replaces the file the way editors do: write a temp file, then rename it over. */
const replace = (path: string, content: string) => {
  writeFileSync(`${path}.tmp`, content)
  renameSync(`${path}.tmp`, path)
}

describe("file:// with 100,000 lines", () => {
  it("list prints them all; watch shows a 10% change soon after the rewrite, without waiting for the heartbeat", async () => {
    const path = join(dir, "cluster")
    replace(path, `# 100k nodes\n${lines(0, N).join("\n")}\n`)

    const listed = await runSwarm(["list", `file://${path}`])
    assert.strictEqual(listed.code, 0, listed.stderr)
    assert.strictEqual(listed.stdout.trim().split("\n").length, N)

    const watcher = spawnSwarm(["watch", "--heartbeat", "1h", "--format", "json", `file://${path}`])
    await watcher.waitFor("stdout", (text) => text.startsWith("{"), 20_000)
    assert.strictEqual(watchEvents(watcher)[0]!.added.length, N)

    // Drop the first 10,000 and add 10,000 new ones.
    const rewrittenAt = performance.now()
    replace(path, `${lines(N / 10, N + N / 10).join("\n")}\n`)
    const changed = await watcher.waitFor("stdout", (text) => text.includes('"removed":["'), 20_000)
    const ms = changed.at - rewrittenAt
    console.log(`file:// watch, 100,000 lines, 10% change: shown ${ms.toFixed(0)} ms after the rewrite`)
    const event = watchEvents(watcher).at(-1)!
    assert.strictEqual(event.added.length, N / 10)
    assert.strictEqual(event.removed.length, N / 10)
    assert.include(event.removed, address(0))
    assert.include(event.added, address(N))
    await stop(watcher)
  })
})
