/**
 * The KvStore suite's cases on `watch` (and `expiries`). "Nothing happened" is checked after the next
 * observable event: a change is made after the non-event, and the next snapshot must be that change's.
 */
import { assert } from "@effect/vitest"
import { Clock, Duration, Effect, Fiber, Option, Stream } from "effect"
import { type Case, keysOf } from "./KvStoreSuiteContext.js"

export const watchChanges: Case = {
  key: "watchChanges",
  name: "watch: the current snapshot first, then one per change, the index growing",
  body: (c, s, p) =>
    Effect.gen(function* () {
      const { store } = s
      yield* store.put(`${p}a`, "1")
      const w = yield* c.watching(store, p)
      assert.deepStrictEqual((yield* w.next).pairs, [{ key: `${p}a`, value: "1" }])
      yield* store.put(`${p}b`, "2")
      assert.deepStrictEqual(keysOf(yield* w.next), [`${p}a`, `${p}b`], "a new key")
      yield* store.put(`${p}b`, "2bis")
      assert.deepStrictEqual((yield* w.next).pairs[1], { key: `${p}b`, value: "2bis" }, "a new value")
      yield* store.delete(`${p}a`)
      assert.deepStrictEqual(keysOf(yield* w.next), [`${p}b`], "a delete")
      yield* store.delete(`${p}b`)
      assert.deepStrictEqual(keysOf(yield* w.next), [], "the last key gone")
      yield* store.put(`${p}c`, "3")
      assert.deepStrictEqual(keysOf(yield* w.next), [`${p}c`], "a key in the emptied directory")
      const indexes = w.seen.map((x) => x.index)
      for (let i = 1; i < indexes.length; i++)
        assert.isAbove(indexes[i]!, indexes[i - 1]!, JSON.stringify(indexes))
    })
}

export const watchOthers: Case = {
  key: "watchOthers",
  name: "watch: changes under other prefixes, or below (children only), are not events here",
  body: (c, s, p) =>
    Effect.gen(function* () {
      const { store } = s
      const other = `${p.slice(0, -1)}x/`
      yield* store.put(`${p}a`, "1")
      const w = yield* c.watching(store, p)
      yield* w.next
      yield* store.put(`${other}x`, "1")
      yield* store.put(`${p.slice(0, -1)}y`, "shares the text, not the directory")
      if (!c.subtree) yield* store.put(`${p}sub/deep`, "1")
      yield* store.put(`${p}b`, "2")
      const next = yield* w.next
      assert.deepStrictEqual(keysOf(next), [`${p}a`, `${p}b`], "the next snapshot is the next change here")
      if (c.subtree) {
        yield* store.put(`${p}sub/deep`, "1")
        assert.deepStrictEqual(keysOf(yield* w.next), [`${p}a`, `${p}b`, `${p}sub/deep`], "a change below")
      }
    })
}

export const watchRefresh: Case = {
  key: "watchRefresh",
  name: "watch: a refresh (the same value, TTL renewed) is not an event",
  body: (c, s, p) =>
    Effect.gen(function* () {
      const { store } = s
      yield* store.put(`${p}a`, "1", c.withTtl)
      const w = yield* c.watching(store, p)
      const first = yield* w.next
      yield* store.put(`${p}a`, "1", c.withTtl)
      yield* store.put(`${p}b`, "2")
      const next = yield* w.next
      assert.deepStrictEqual(keysOf(next), [`${p}a`, `${p}b`], "the next snapshot is the next change")
      assert.isAbove(next.index, first.index)
    })
}

export const watchExpiry: Case = {
  key: "watchExpiry",
  name: "watch: an expiry is an event, at its deadline and not before",
  body: (c, s, p) =>
    Effect.gen(function* () {
      const { store } = s
      const since = Date.now()
      yield* store.put(`${p}t`, "1", c.withTtl)
      const w = yield* c.watching(store, p)
      assert.deepStrictEqual(keysOf(yield* w.next), [`${p}t`])
      if (c.live) {
        yield* w.until((x) => x.pairs.length === 0, `${p}t to expire`)
        assert.isAtLeast(Date.now() - since, c.earliest)
        return
      }
      yield* c.elapse(s, c.earliest - 1)
      yield* store.put(`${p}u`, "2")
      assert.deepStrictEqual(keysOf(yield* w.next), [`${p}t`, `${p}u`], "nothing expired before the deadline")
      yield* c.elapse(s, c.latest - c.earliest + 1)
      assert.deepStrictEqual(keysOf(yield* w.next), [`${p}u`])
    })
}

export const watchPartial: Case = {
  key: "watchPartial",
  name: "watch on a prefix that is not a directory: the keys whose name starts with it",
  body: (c, s, p) =>
    Effect.gen(function* () {
      const { store } = s
      const w = yield* c.watching(store, `${p}ab`)
      assert.deepStrictEqual(keysOf(yield* w.next), [])
      yield* store.put(`${p}xyz`, "0")
      yield* store.put(`${p}abc`, "1")
      assert.deepStrictEqual(keysOf(yield* w.until((x) => x.pairs.length > 0, "abc")), [`${p}abc`])
      assert.deepStrictEqual(keysOf(w.seen[w.seen.length - 1]!), [`${p}abc`])
    })
}

export const watchStop: Case = {
  key: "watchStop",
  name: "stopping a watch leaves the store usable, and a new watch starts from the current state",
  body: (c, s, p) =>
    Effect.gen(function* () {
      const { store } = s
      const w = yield* c.watching(store, p)
      yield* w.next
      yield* Fiber.interrupt(w.fiber)
      yield* store.put(`${p}a`, "1")
      const head = yield* c.within(Stream.runHead(store.watch(p)), "a new watch")
      assert.deepStrictEqual(Option.map(head, keysOf), Option.some([`${p}a`]))
    })
}

export const expiries: Case = {
  key: "expiries",
  name: "expiries: when each key with a TTL expires, following refreshes",
  body: (c, s, p) =>
    Effect.gen(function* () {
      const { store } = s
      assert.isDefined(store.expiries, "the store tells expiries")
      const at = yield* Clock.currentTimeMillis
      yield* store.put(`${p}t`, "1", c.withTtl)
      yield* store.put(`${p}plain`, "2")
      const first = yield* store.expiries!(p)
      assert.deepStrictEqual([...first.keys()], [`${p}t`], "keys without a TTL are left out")
      // Exact on the test clock; etcd tells whole seconds left.
      const slack = c.live ? 1500 : 0
      assert.approximately(first.get(`${p}t`)!, at + Duration.toMillis(c.ttl), slack)
      yield* c.elapse(s, 1000)
      yield* store.put(`${p}t`, "1", c.withTtl)
      const moved = (yield* store.expiries!(p)).get(`${p}t`)!
      assert.approximately(moved - first.get(`${p}t`)!, 1000, slack, "a refresh moves the deadline")
    })
}
