/**
 * The deletion watchers' record (`deletions.ts`): each deletion once, at the earliest time a member saw it,
 * and the lateness of expiries counted only where the history says the lease ran out.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { expiryLateness, merge } from "./deletions.js"
import type { Op } from "./history.js"

const T = "0123456789abcdef0123456789abcdef"
const dir = mkdtempSync(join(tmpdir(), "ha-deletions-"))
const file = (name: string, lines: ReadonlyArray<object>) => {
  const path = join(dir, name)
  writeFileSync(path, lines.map((l) => JSON.stringify(l) + "\n").join(""))
  return path
}
const op = (fields: Partial<Op> & Pick<Op, "kind" | "invokedAt" | "completedAt">): Op => ({
  client: 0,
  instance: "s1",
  cluster: T,
  address: "a:1",
  outcome: "ok",
  ...fields
})
const put = (at: number, fields: Partial<Op> = {}) =>
  op({ kind: "refresh", ttl: 8, invokedAt: at, completedAt: at + 10, ...fields })
/** The checker's deadline, as these tests take it: TTL + 2 s of grace after the answer. */
const due = (w: Op) => w.completedAt + (w.ttl ?? 0) * 1000 + 2_000
const gone = (at: number, address = "a:1") => ({ cluster: T, address, revision: at, at })

describe("HA deletion record", () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it("keeps each deletion once, at the earliest time any member's watch delivered it", () => {
    const e1 = file("e1", [
      { key: `ha/${T}/a:1`, revision: "7", at: 1_500 },
      { key: `ha/${T}/b:2`, revision: "9", at: 2_000 }
    ])
    // A member that came back late delivers the same deletions later; one the store keeps for itself is no entry.
    const e2 = file("e2", [
      { key: `ha/${T}/a:1`, revision: "7", at: 1_200 },
      { key: `ha/${T}/b:2`, revision: "9", at: 9_000 },
      { key: "ha/\u0000commit-fence/x", revision: "10", at: 9_100 }
    ])
    assert.deepStrictEqual(merge([e1, e2, join(dir, "never-written")]), [
      { cluster: T, address: "a:1", revision: 7, at: 1_200 },
      { cluster: T, address: "b:2", revision: 9, at: 2_000 }
    ])
  })

  it("counts an expiry from the last acknowledged put's answer plus its TTL", () => {
    const e = expiryLateness([put(0), put(1_000)], [gone(1_010 + 8_000 + 250)], due)
    assert.deepStrictEqual(e, { expiries: 1, p50Ms: 250, p99Ms: 250, maxMs: 250, nearestDeadlineMs: -1_750 })
  })

  it("leaves out a deletion a DELETE asked for, one under a write in flight and one near an unknown write", () => {
    const deleted = op({ kind: "delete", invokedAt: 2_000, completedAt: 2_010 })
    assert.strictEqual(expiryLateness([put(0), deleted], [gone(2_005)], due).expiries, 0)
    assert.strictEqual(
      expiryLateness([put(0), put(8_000, { completedAt: 8_500 })], [gone(8_100)], due).expiries,
      0
    )
    const unknown = put(1_000, { outcome: "unknown" })
    assert.strictEqual(expiryLateness([put(0), unknown], [gone(9_000)], due).expiries, 0)
    assert.strictEqual(expiryLateness([put(0), unknown], [gone(17_000)], due).expiries, 1)
    // Another entry's expiry is judged by its own writes.
    assert.strictEqual(expiryLateness([put(0)], [gone(9_000, "other:1")], due).expiries, 0)
  })
})
