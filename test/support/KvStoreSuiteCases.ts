/**
 * The KvStore suite's cases on what a store holds: put, list, delete, prefixes, TTLs, limits and the index.
 * Each writes only under its own fresh prefix `p`.
 */
import { assert } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { type Case, keysOf } from "./KvStoreSuiteContext.js"

export const putListDelete: Case = {
  key: "putListDelete",
  name: "put says created or updated; list is sorted with values; delete says if it existed",
  body: (_c, s, p) =>
    Effect.gen(function* () {
      const { store } = s
      assert.strictEqual(yield* store.put(`${p}b`, "2"), "created")
      assert.strictEqual(yield* store.put(`${p}a`, "1"), "created")
      assert.strictEqual(yield* store.put(`${p}a`, "1"), "updated", "the same value")
      assert.strictEqual(yield* store.put(`${p}a`, "1bis"), "updated", "a new value")
      assert.strictEqual(yield* store.put(`${p}[2001:db8::1]:2375`, "[2001:db8::1]:2375"), "created")
      assert.strictEqual(yield* store.put(`${p}10.0.0.1:2375`, "héllo wörld"), "created")
      assert.deepStrictEqual((yield* store.list(p)).pairs, [
        { key: `${p}10.0.0.1:2375`, value: "héllo wörld" },
        { key: `${p}[2001:db8::1]:2375`, value: "[2001:db8::1]:2375" },
        { key: `${p}a`, value: "1bis" },
        { key: `${p}b`, value: "2" }
      ])
      assert.isTrue(yield* store.delete(`${p}a`))
      assert.isFalse(yield* store.delete(`${p}a`), "a second delete finds nothing")
      assert.isFalse(yield* store.delete(`${p}never`))
      assert.deepStrictEqual(keysOf(yield* store.list(p)), [
        `${p}10.0.0.1:2375`,
        `${p}[2001:db8::1]:2375`,
        `${p}b`
      ])
      assert.strictEqual(yield* store.put(`${p}a`, "again"), "created", "a deleted key is created again")
    })
}

export const root: Case = {
  key: "root",
  name: "the root lists every key",
  body: (_c, s, p) =>
    Effect.gen(function* () {
      yield* s.store.put(`${p}a/b`, "1")
      yield* s.store.put(`${p.slice(0, -1)}0`, "2")
      yield* s.store.put("top", "3")
      assert.deepStrictEqual(keysOf(yield* s.store.list("")), [`${p}a/b`, `${p.slice(0, -1)}0`, "top"])
    })
}

export const deletePrefix: Case = {
  key: "deletePrefix",
  name: "deletePrefix removes only what is under the prefix, and says how many",
  body: (c, s, p) =>
    Effect.gen(function* () {
      const { store } = s
      yield* store.put(`${p}c/1/a`, "x")
      yield* store.put(`${p}c/1/b`, "x", c.withTtl)
      yield* store.put(`${p}c/10/a`, "x")
      assert.strictEqual(yield* store.deletePrefix(`${p}c/1/`), 2)
      assert.deepStrictEqual(keysOf(yield* store.list(`${p}c/10/`)), [`${p}c/10/a`])
      assert.deepStrictEqual(keysOf(yield* store.list(`${p}c/1/`)), [])
      assert.strictEqual(yield* store.deletePrefix(`${p}c/1/`), 0)
    })
}

export const isolation: Case = {
  key: "isolation",
  name: "a prefix holds only its own keys, not those that merely share its text",
  body: (_c, s, p) =>
    Effect.gen(function* () {
      const { store } = s
      const sibling = `${p.slice(0, -1)}x`
      yield* store.put(`${p}a`, "mine")
      yield* store.put(sibling, "outside")
      yield* store.put(`${sibling}/b`, "outside")
      assert.deepStrictEqual(keysOf(yield* store.list(p)), [`${p}a`])
      assert.deepStrictEqual((yield* store.list(sibling)).pairs.slice(0, 1), [
        { key: sibling, value: "outside" }
      ])
      assert.deepStrictEqual((yield* store.list(`${p}nothing/here/`)).pairs, [])
      // A prefix that is not a directory: the keys whose name starts with it.
      yield* store.put(`${p}abc`, "1")
      yield* store.put(`${p}xyz`, "0")
      assert.deepStrictEqual(keysOf(yield* store.list(`${p}ab`)), [`${p}abc`])
    })
}

export const depth: Case = {
  key: "depth",
  name: (c) => (c.subtree ? "a directory lists every key below it" : "a directory lists its children only"),
  body: (c, s, p) =>
    Effect.gen(function* () {
      const { store } = s
      yield* store.put(`${p}direct`, "1")
      yield* store.put(`${p}sub/deep`, "2")
      assert.deepStrictEqual(
        keysOf(yield* store.list(p)),
        c.subtree ? [`${p}direct`, `${p}sub/deep`] : [`${p}direct`]
      )
      assert.deepStrictEqual(keysOf(yield* store.list(`${p}sub/`)), [`${p}sub/deep`])
    })
}

export const ttl: Case = {
  key: "ttl",
  name: "a key expires at its TTL unless put again; a key without TTL stays; expired, it is created again",
  body: (c, s, p) =>
    Effect.gen(function* () {
      const since = Date.now()
      yield* s.store.put(`${p}short`, "s", c.withTtl)
      yield* s.store.put(`${p}kept`, "k")
      yield* c.expireInWindow(s, p, [`${p}short`], 0, since)
      assert.deepStrictEqual(keysOf(yield* s.store.list(p)), [`${p}kept`])
      assert.isFalse(yield* s.store.delete(`${p}short`), "an expired key does not count as deleted")
      assert.strictEqual(yield* s.store.put(`${p}short`, "s", c.withTtl), "created")
    })
}

export const refresh: Case = {
  key: "refresh",
  name: "a put refreshes the TTL: the key outlives its first deadline, then expires a TTL after",
  body: (c, s, p) =>
    Effect.gen(function* () {
      const step = Math.round(c.earliest * 0.6)
      yield* s.store.put(`${p}k`, "v", c.withTtl)
      yield* c.elapse(s, step)
      const since = Date.now()
      assert.strictEqual(yield* s.store.put(`${p}k`, "v", c.withTtl), "updated")
      yield* c.elapse(s, step)
      assert.deepStrictEqual(keysOf(yield* s.store.list(p)), [`${p}k`], "alive past its first TTL")
      yield* c.expireInWindow(s, p, [`${p}k`], step, since)
    })
}

export const dropTtl: Case = {
  key: "dropTtl",
  name: "a put without TTL over a key with one keeps the key for good",
  body: (c, s, p) =>
    Effect.gen(function* () {
      yield* s.store.put(`${p}k`, "v", c.withTtl)
      assert.strictEqual(yield* s.store.put(`${p}k`, "forever"), "updated")
      // Past the deadline it had (a year, where time is the test's to move).
      yield* c.elapse(s, c.live ? c.latest + 1 : Duration.toMillis(Duration.days(365)))
      assert.deepStrictEqual((yield* s.store.list(p)).pairs, [{ key: `${p}k`, value: "forever" }])
    })
}

export const shorterTtl: Case = {
  key: "shorterTtl",
  name: "a shorter TTL, or a TTL given to a key that had none, moves the deadline earlier",
  body: (c, s, p) =>
    Effect.gen(function* () {
      const { store } = s
      yield* store.put(`${p}k`, "v", { ttl: Duration.times(c.ttl, 10) })
      yield* store.put(`${p}n`, "v")
      assert.deepStrictEqual(keysOf(yield* store.list(p)), [`${p}k`, `${p}n`], "listed (and cached) first")
      const since = Date.now()
      yield* store.put(`${p}k`, "v", c.withTtl)
      yield* store.put(`${p}n`, "v", c.withTtl)
      yield* c.expireInWindow(s, p, [`${p}k`, `${p}n`], 0, since)
    })
}

export const limit: Case = {
  key: "limit",
  name: "limit refuses a new key at the bound, never a refresh; a removal makes room",
  body: (c, s, p) =>
    Effect.gen(function* () {
      const { store } = s
      const limit = { prefix: p, max: 2 }
      yield* store.put(`${p}a`, "1", { limit, ttl: c.ttl })
      yield* store.put(`${p}b`, "2", { limit })
      const refused = yield* Effect.flip(store.put(`${p}c`, "3", { limit }))
      assert.strictEqual(refused.reason, "LimitExceeded")
      assert.include(refused.message, p)
      assert.strictEqual(yield* store.put(`${p}a`, "1", { limit, ttl: c.ttl }), "updated")
      assert.strictEqual(yield* store.put(`${p}b`, "2bis", { limit }), "updated")
      assert.deepStrictEqual(keysOf(yield* store.list(p)), [`${p}a`, `${p}b`])
      yield* store.delete(`${p}b`)
      assert.strictEqual(yield* store.put(`${p}c`, "3", { limit }), "created")
    })
}

export const index: Case = {
  key: "index",
  name: "the index grows with every change, never goes back, and stays for a refresh",
  body: (c, s, p) =>
    Effect.gen(function* () {
      const { store } = s
      const i0 = (yield* store.list(p)).index
      yield* store.put(`${p}a`, "a", c.withTtl)
      const i1 = (yield* store.list(p)).index
      assert.isAbove(i1, i0, "a new key")
      yield* store.put(`${p}a`, "a", c.withTtl)
      assert.strictEqual((yield* store.list(p)).index, i1, "a refresh changes nothing")
      yield* store.put(`${p}a`, "a2", c.withTtl)
      const i2 = (yield* store.list(p)).index
      assert.isAbove(i2, i1, "a new value")
      yield* store.delete(`${p}a`)
      const i3 = (yield* store.list(p)).index
      assert.isAbove(i3, i2, "emptying a directory still moves its index forward")
      yield* store.put(`${p}b`, "b")
      assert.isAbove((yield* store.list(p)).index, i3)
    })
}
