import { assert, describe, it } from "@effect/vitest"
import { Either } from "effect"
import * as Entries from "../src/Entries.js"
import * as Entry from "../src/Entry.js"
import * as Arb from "./support/arbitraries.js"

const list = (...inputs: Array<string>): Entries.Entries =>
  inputs.map((s) => Either.getOrThrow(Entry.parse(s)))
const keys = (entries: Entries.Entries) => Entries.format(entries)
const sortedKeys = (entries: Entries.Entries) => [...Entries.format(entries)].sort()

describe("Entries", () => {
  it("fromIterable collapses duplicates and sorts", () => {
    const entries = Entries.fromIterable(list("b:2", "a:1", "b:2", "[::1]:3", "a:1"))
    assert.deepStrictEqual(keys(entries), ["[::1]:3", "a:1", "b:2"])
  })

  it("parseAll parses, dedupes, and fails on the first bad one", () => {
    assert.deepStrictEqual(keys(Either.getOrThrow(Entries.parseAll(["a:1", "a:1", "b:2"]))), ["a:1", "b:2"])
    const failed = Entries.parseAll(["a:1", "b", "c:0"])
    assert.isTrue(Either.isLeft(failed))
    if (Either.isLeft(failed)) assert.strictEqual(failed.left.input, "b")
  })

  it("equals ignores order and duplicates", () => {
    assert.isTrue(Entries.equals(list("a:1", "b:2"), list("b:2", "a:1")))
    assert.isTrue(Entries.equals(list("a:1", "a:1", "b:2"), list("b:2", "a:1")))
    assert.isTrue(Entries.equals(Entries.empty, []))
    assert.isFalse(Entries.equals(list("a:1", "b:2"), list("a:1")))
    assert.isFalse(Entries.equals(list("a:1"), list("a:2")))
    assert.isFalse(Entries.equals(list("a:1", "b:2"), list("a:1", "c:3")))
  })

  it("diff reports added and removed", () => {
    const d = Entries.diff(list("a:1", "b:2", "c:3"), list("c:3", "d:4", "a:1"))
    assert.deepStrictEqual(keys(d.added), ["d:4"])
    assert.deepStrictEqual(keys(d.removed), ["b:2"])
  })

  it("diff of equal sets is empty, whatever the order", () => {
    const d = Entries.diff(list("a:1", "b:2"), list("b:2", "a:1", "b:2"))
    assert.deepStrictEqual(d, { added: [], removed: [] })
  })

  it("diff from and to empty", () => {
    assert.deepStrictEqual(keys(Entries.diff(Entries.empty, list("a:1", "b:2")).added), ["a:1", "b:2"])
    assert.deepStrictEqual(keys(Entries.diff(list("a:1", "b:2"), Entries.empty).removed), ["a:1", "b:2"])
  })

  it("diff lists a repeated member once", () => {
    const d = Entries.diff(list("x:1", "x:1"), list("y:1", "y:1"))
    assert.deepStrictEqual(keys(d.added), ["y:1"])
    assert.deepStrictEqual(keys(d.removed), ["x:1"])
  })

  it("treats IPv6 hosts by their printed form", () => {
    assert.isTrue(Entries.equals(list("[::1]:80"), [Entry.make("::1", 80)]))
    assert.isFalse(Entries.equals(list("[::1]:80"), list("[::2]:80")))
  })
})

/** Applies a diff to a list as a set. */
const apply = (base: Entries.Entries, d: Entries.Diff): Entries.Entries => {
  const removed = new Set(Entries.format(d.removed))
  return Entries.fromIterable([...base.filter((e) => !removed.has(Entry.format(e))), ...d.added])
}

describe("Entries properties", () => {
  it.prop("diff(a, b) applied to a gives b", [Arb.listsFrom(2)], ([[a, b]]) => {
    assert.deepStrictEqual(sortedKeys(apply(a, Entries.diff(a, b))), sortedKeys(Entries.fromIterable(b)))
  })

  it.prop(
    "added and removed are disjoint, deduplicated, and drawn from b and a",
    [Arb.listsFrom(2)],
    ([[a, b]]) => {
      const d = Entries.diff(a, b)
      const added = Entries.format(d.added)
      const removed = Entries.format(d.removed)
      assert.strictEqual(new Set(added).size, added.length)
      assert.strictEqual(new Set(removed).size, removed.length)
      const inA = new Set(Entries.format(a))
      const inB = new Set(Entries.format(b))
      for (const k of added) assert.isTrue(inB.has(k) && !inA.has(k))
      for (const k of removed) assert.isTrue(inA.has(k) && !inB.has(k))
    }
  )

  it.prop("equals is order-insensitive and ignores duplicates", [Arb.listsFrom(1)], ([[a]]) => {
    const shuffled = [...a].reverse().concat(a.slice(0, 3))
    assert.isTrue(Entries.equals(a, shuffled))
    assert.isTrue(Entries.equals(a, Entries.fromIterable(a)))
  })

  it.prop("equals agrees with an empty diff", [Arb.listsFrom(2)], ([[a, b]]) => {
    const d = Entries.diff(a, b)
    assert.strictEqual(Entries.equals(a, b), d.added.length === 0 && d.removed.length === 0)
  })

  it.prop("fromIterable is idempotent and sorted", [Arb.listsFrom(1)], ([[a]]) => {
    const once = Entries.fromIterable(a)
    assert.deepStrictEqual(Entries.fromIterable(once), once)
    assert.deepStrictEqual(Entries.format(once), [...Entries.format(once)].sort())
  })
})
