/**
 * ReadToken.resolve on the hot path: "not read-only" is trusted for a few
 * seconds (no store lookup per heartbeat or list), and a read-only token
 * issued by another instance over the same store is honoured once that runs out.
 */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, TestClock } from "effect"
import type { KvStoreShape } from "../../src/KvStore.js"
import * as Memory from "../../src/KvStore/Memory.js"
import * as ReadToken from "../../src/Server/ReadToken.js"

const TOKEN = "0123456789abcdef0123456789abcdef"

/** The memory store, counting the lookups made under the read-token prefix. */
const counted = () => {
  const store = Memory.unsafeMake()
  const lookups = { count: 0 }
  const shape: KvStoreShape = {
    ...store,
    list: (prefix) => {
      if (prefix.startsWith(ReadToken.PREFIX)) lookups.count++
      return store.list(prefix)
    }
  }
  return { shape, lookups }
}

describe("ReadToken.resolve", () => {
  it.effect("a write token is looked up once per NOT_READ_ONLY_MS, not once per request", () =>
    Effect.gen(function* () {
      const { shape, lookups } = counted()
      const tokens = ReadToken.make(shape)
      for (let i = 0; i < 100; i++) {
        const resolved = yield* tokens.resolve(TOKEN)
        assert.deepStrictEqual(resolved, { cluster: TOKEN, readOnly: false })
      }
      assert.strictEqual(lookups.count, 1)
      yield* TestClock.adjust(Duration.millis(ReadToken.NOT_READ_ONLY_MS))
      yield* tokens.resolve(TOKEN)
      assert.strictEqual(lookups.count, 2)
    })
  )

  it.effect("the tokens of many clusters share one read of the read-only tokens per NOT_READ_ONLY_MS", () =>
    Effect.gen(function* () {
      const { shape, lookups } = counted()
      const readOnly = ReadToken.derive(TOKEN)
      yield* ReadToken.make(shape).issue(TOKEN)
      const tokens = ReadToken.make(shape)
      const clusters = Array.from({ length: 1000 }, (_, i) => i.toString(16).padStart(32, "0"))
      for (const token of clusters) assert.isFalse((yield* tokens.resolve(token)).readOnly)
      assert.deepStrictEqual(yield* tokens.resolve(readOnly), { cluster: TOKEN, readOnly: true })
      assert.strictEqual(lookups.count, 1, "one read for a thousand clusters and a read-only token")
      yield* TestClock.adjust(Duration.millis(ReadToken.NOT_READ_ONLY_MS))
      for (const token of clusters) yield* tokens.resolve(token)
      assert.strictEqual(lookups.count, 2)
    })
  )

  it.effect("a read-only token issued on another instance resolves here once the cache runs out", () =>
    Effect.gen(function* () {
      const { shape } = counted()
      const here = ReadToken.make(shape)
      const there = ReadToken.make(shape)
      const readToken = ReadToken.derive(TOKEN)
      assert.isFalse((yield* here.resolve(readToken)).readOnly)
      assert.strictEqual(yield* there.issue(TOKEN), readToken)
      // Issued here, it would resolve at once (next test); issued there, here trusts its cache a little longer.
      assert.isFalse((yield* here.resolve(readToken)).readOnly)
      yield* TestClock.adjust(Duration.millis(ReadToken.NOT_READ_ONLY_MS))
      assert.deepStrictEqual(yield* here.resolve(readToken), { cluster: TOKEN, readOnly: true })
    })
  )

  it.effect("a read-only token issued on this instance resolves at once, even after a miss", () =>
    Effect.gen(function* () {
      const { shape } = counted()
      const tokens = ReadToken.make(shape)
      const readToken = ReadToken.derive(TOKEN)
      assert.isFalse((yield* tokens.resolve(readToken)).readOnly)
      yield* tokens.issue(TOKEN)
      assert.deepStrictEqual(yield* tokens.resolve(readToken), { cluster: TOKEN, readOnly: true })
    })
  )
})
