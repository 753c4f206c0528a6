import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, TestClock } from "effect"
import type { KvStoreShape } from "../../../src/KvStore.js"
import * as Memory from "../../../src/KvStore/Memory.js"
import * as Sqlite from "../../../src/KvStore/Sqlite.js"
import * as Registration from "../../../src/Server/Console/Registration.js"

describe("Registration", () => {
  it("encodes the address with its TTL and reads plain values too", () => {
    const value = Registration.encode("[2001:db8::1]:2375", 180_000)
    assert.strictEqual(Registration.address(value), "[2001:db8::1]:2375")
    assert.strictEqual(Registration.ttlOf(value), 180_000)
    assert.strictEqual(Registration.address("10.0.0.1:2375"), "10.0.0.1:2375")
    assert.isUndefined(Registration.ttlOf("10.0.0.1:2375"))
    assert.isUndefined(Registration.ttlOf("10.0.0.1:2375 ttl=soon"))
  })

  it("a member's registration time is its deadline minus its TTL", () => {
    const m = Registration.member(Registration.encode("10.0.0.1:2375", 30_000), 1_000_000)
    assert.deepStrictEqual(m, {
      address: "10.0.0.1:2375",
      expiresAt: 1_000_000,
      ttl: 30_000,
      registeredAt: 970_000
    })
    assert.deepStrictEqual(Registration.member("10.0.0.1:2375", undefined), { address: "10.0.0.1:2375" })
  })

  const deadlines = (store: KvStoreShape) =>
    Effect.gen(function* () {
      yield* TestClock.adjust(Duration.seconds(100))
      yield* store.put("t/a", Registration.encode("a:1", 10_000), { ttl: Duration.seconds(10) })
      yield* store.put("t/b", "b:1")
      yield* store.put("u/c", "c:1", { ttl: Duration.seconds(5) })
      yield* TestClock.adjust(Duration.seconds(4))
      // A refresh moves the deadline without changing the index.
      const before = yield* store.list("t/")
      yield* store.put("t/a", Registration.encode("a:1", 10_000), { ttl: Duration.seconds(10) })
      const after = yield* store.list("t/")
      assert.strictEqual(after.index, before.index)
      const map = yield* store.expiries!("t/")
      assert.deepStrictEqual([...map], [["t/a", 114_000]])
      yield* TestClock.adjust(Duration.seconds(11))
      assert.strictEqual((yield* store.expiries!("")).size, 0)
    })

  it.effect("memory store: expiries follow refreshes and expiry", () => deadlines(Memory.unsafeMake()))

  it.scoped("sqlite store: expiries follow refreshes and expiry", () =>
    Effect.flatMap(Sqlite.make({ filename: ":memory:" }), deadlines)
  )
})
