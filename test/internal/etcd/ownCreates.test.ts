/**
 * This instance's creates that the totals watch has not applied: counted in their cluster until the watch
 * has applied their revision, never twice, and not kept after.
 */
import { assert, describe, it } from "@effect/vitest"
import * as OwnCreates from "../../../src/internal/etcd/ownCreates.js"

const applied = (revision: number, keys: ReadonlyArray<string> = []): OwnCreates.Applied => ({
  revision: BigInt(revision),
  keys: new Set(keys)
})

describe("own creates the watch has not applied", () => {
  it("a create is counted in its cluster until the watch applies its revision", () => {
    const own = OwnCreates.make()
    own.add(applied(10), "a", "ns/a/x:1", 12n)
    own.add(applied(10), "a", "ns/a/y:1", 13n)
    own.add(applied(10), "b", "ns/b/x:1", 13n)
    assert.strictEqual(own.unapplied(applied(10), "a"), 2)
    assert.strictEqual(own.unapplied(applied(10), "b"), 1)
    assert.strictEqual(own.unapplied(applied(10), "c"), 0)
    // The watch applied revision 12 and holds x: x is the tally's now; y is still ours alone.
    assert.strictEqual(own.unapplied(applied(12, ["ns/a/x:1"]), "a"), 1)
    assert.strictEqual(own.unapplied(applied(13, ["ns/a/x:1", "ns/a/y:1"]), "a"), 0)
    assert.strictEqual(own.unapplied(applied(12), "b"), 0, "dropped at revision 13 above, even for b")
  })

  it("a create the watch applied before its answer came is not counted twice", () => {
    const own = OwnCreates.make()
    own.add(applied(10, ["ns/a/x:1"]), "a", "ns/a/x:1", 12n)
    assert.strictEqual(own.unapplied(applied(11, ["ns/a/x:1"]), "a"), 0)
  })

  it("a create deleted by the time the watch reached it counts no more", () => {
    const own = OwnCreates.make()
    own.add(applied(10), "a", "ns/a/x:1", 12n)
    assert.strictEqual(own.unapplied(applied(14), "a"), 0, "applied up to 14: the key's create and delete")
  })

  it("a revision the watch already applied adds nothing; a key added again moves to its new revision", () => {
    const own = OwnCreates.make()
    own.add(applied(12), "a", "ns/a/x:1", 12n)
    assert.strictEqual(own.unapplied(applied(12), "a"), 0)
    own.add(applied(12), "a", "ns/a/y:1", 13n)
    own.add(applied(12), "a", "ns/a/z:1", 14n)
    own.add(applied(12), "a", "ns/a/y:1", 16n) // created again after a delete
    assert.strictEqual(own.unapplied(applied(14, ["ns/a/z:1"]), "a"), 1, "y waits for revision 16")
    assert.strictEqual(own.unapplied(applied(16, ["ns/a/z:1", "ns/a/y:1"]), "a"), 0)
  })
})
