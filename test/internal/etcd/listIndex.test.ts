import { assert, describe, it } from "@effect/vitest"
import * as ListIndex from "../../../src/internal/etcd/listIndex.js"

const pairs = (...keys: ReadonlyArray<string>) => keys.map((key) => ({ key, value: "v" }))

describe("internal/etcd/listIndex", () => {
  it("keeps a prefix's index while its pairs stay, and moves it when they change", () => {
    const indexOf = ListIndex.make()
    const first = indexOf("c/", pairs("c/a"), 10n)
    assert.strictEqual(first, 10)
    // Heartbeats moved etcd's revision, not the pairs.
    assert.strictEqual(indexOf("c/", pairs("c/a"), 25n), first)
    assert.strictEqual(indexOf("c/", [{ key: "c/a", value: "v2" }], 30n), 30, "a new value")
    assert.strictEqual(indexOf("c/", pairs("c/a", "c/b"), 40n), 40, "a new key")
    // Another prefix has its own.
    assert.strictEqual(indexOf("d/", pairs("d/a"), 41n), 41)
    assert.strictEqual(indexOf("c/", pairs("c/a", "c/b"), 50n), 40)
  })

  it("never goes back: a listing answered late for older pairs still gets a larger index", () => {
    const indexOf = ListIndex.make()
    assert.strictEqual(indexOf("c/", pairs("c/a", "c/b"), 20n), 20)
    // A range read at revision 15 (before b came) answered after the one at 20.
    const late = indexOf("c/", pairs("c/a"), 15n)
    assert.isAbove(late, 20)
    assert.isAbove(indexOf("c/", pairs("c/a", "c/b"), 21n), late)
  })
})
