/**
 * The Consul store against the double in the modes a real Consul may be in, beyond the default the
 * per-store file uses: session invalidation at 1× TTL as well as 2× (Consul promises only "between
 * TTL and 2× TTL"), ACLs on (the token must travel in `X-Consul-Token`), no cluster leader (500) and
 * a rate limit (429). The double's clock is a `ManualClock`; the store's own waits run on `TestClock`.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { KvError, type KvSnapshot } from "../../src/KvStore.js"
import * as Consul from "../../src/KvStore/Consul.js"
import { consulDouble, ManualClock } from "../support/consulDouble.js"

const keys = (snapshot: KvSnapshot) => snapshot.pairs.map((p) => p.key)
const TTL = 30_000

const setup = (options: {
  readonly ttlMultiplier?: number
  readonly aclToken?: string
  readonly token?: string
}) =>
  Effect.gen(function* () {
    const clock = new ManualClock()
    const double = yield* consulDouble({
      clock,
      ...(options.ttlMultiplier === undefined ? {} : { ttlMultiplier: options.ttlMultiplier }),
      ...(options.aclToken === undefined ? {} : { aclToken: options.aclToken })
    })
    const store = yield* Consul.make({
      address: double.address,
      ...(options.token === undefined ? {} : { token: options.token })
    })
    return { clock, double, store }
  })

const failure = (exit: Exit.Exit<unknown, KvError>): KvError => {
  assert.isTrue(Exit.isFailure(exit), "expected a failure")
  const error = Exit.isFailure(exit) ? exit.cause : undefined
  const found = error !== undefined && error._tag === "Fail" ? error.error : undefined
  assert.instanceOf(found, KvError)
  return found!
}

for (const multiplier of [1, 2]) {
  describe(`KvStore/Consul, sessions invalidated at ${multiplier}× TTL`, () => {
    // The session TTL is half the key's, so the entry goes ttl·m/2 after its last put: ttl/2 or ttl.
    const lapse = (TTL * multiplier) / 2

    it.scoped("an entry vanishes within [ttl/2, ttl] after its last put, as docs/backends.md says", () =>
      Effect.gen(function* () {
        const { clock, store } = yield* setup({ ttlMultiplier: multiplier })
        yield* store.put("m/a", "x", { ttl: "30 seconds" })
        clock.advance(lapse - 1)
        assert.deepStrictEqual(keys(yield* store.list("m/")), ["m/a"])
        clock.advance(1)
        assert.deepStrictEqual(keys(yield* store.list("m/")), [])
        assert.isAtLeast(lapse, TTL / 2)
        assert.isAtMost(lapse, TTL)
      })
    )

    it.scoped("heartbeats just under ttl/2 keep the entry, and write it once", () =>
      Effect.gen(function* () {
        const { clock, double, store } = yield* setup({ ttlMultiplier: multiplier })
        assert.strictEqual(yield* store.put("m/a", "x", { ttl: "30 seconds" }), "created")
        const written = double.get("m/a")!.modifyIndex
        for (let beat = 0; beat < 8; beat++) {
          clock.advance(TTL / 2 - 1)
          assert.deepStrictEqual(keys(yield* store.list("m/")), ["m/a"], `beat ${beat}`)
          assert.strictEqual(yield* store.put("m/a", "x", { ttl: "30 seconds" }), "updated")
        }
        assert.strictEqual(double.get("m/a")?.modifyIndex, written)
        assert.strictEqual(double.count("PUT", "/v1/session/create"), 1)
      })
    )

    it.scoped("a lapsed session is re-created by the next put", () =>
      Effect.gen(function* () {
        const { clock, double, store } = yield* setup({ ttlMultiplier: multiplier })
        yield* store.put("m/a", "x", { ttl: "30 seconds" })
        const first = double.sessions()[0]!.id
        clock.advance(lapse)
        assert.deepStrictEqual(double.keys(), [])
        assert.strictEqual(yield* store.put("m/a", "x", { ttl: "30 seconds" }), "created")
        assert.notStrictEqual(double.get("m/a")?.session, first)
        assert.strictEqual(double.count("PUT", "/v1/session/create"), 2)
      })
    )
  })
}

describe("KvStore/Consul with ACLs on", () => {
  it.scoped("the token travels in X-Consul-Token on every request", () =>
    Effect.gen(function* () {
      const { double, store } = yield* setup({ aclToken: "s3cret", token: "s3cret" })
      yield* store.put("acl/a", "x", { ttl: "30 seconds" })
      yield* store.put("acl/b", "y")
      assert.deepStrictEqual(keys(yield* store.list("acl/")), ["acl/a", "acl/b"])
      yield* store.delete("acl/b")
      assert.isAbove(double.requests.length, 3)
      assert.deepStrictEqual(
        double.requests.filter((r) => r.token !== "s3cret"),
        [],
        "a request without the token"
      )
    })
  )

  it.scoped("without the token, or with another, Consul's 403 is a BadResponse naming it", () =>
    Effect.gen(function* () {
      for (const [token, text] of [
        [undefined, "Permission denied"],
        ["wrong", "ACL not found"]
      ] as const) {
        const { store } = yield* setup({ aclToken: "s3cret", ...(token === undefined ? {} : { token }) })
        const error = failure(yield* Effect.exit(store.put("acl/a", "x")))
        assert.strictEqual(error.reason, "BadResponse")
        assert.include(error.detail, "403")
        assert.include(error.detail, text)
      }
    })
  )
})

describe("KvStore/Consul against a Consul that cannot serve", () => {
  for (const [mode, status, text] of [
    ["no-leader", 500, "No cluster leader"],
    ["rate-limited", 429, "RPC rate limit exceeded"]
  ] as const) {
    it.scoped(`${status} "${text}": put and list fail Unavailable, and work again once it recovers`, () =>
      Effect.gen(function* () {
        const { double, store } = yield* setup({})
        yield* store.put("f/a", "x")
        double.fail(mode)
        for (const exit of [
          yield* Effect.exit(store.put("f/b", "y")),
          yield* Effect.exit(store.list("f/"))
        ]) {
          const error = failure(exit)
          assert.strictEqual(error.reason, "Unavailable")
          assert.include(error.detail, `answered ${status}`)
          assert.include(error.detail, text)
        }
        assert.deepStrictEqual(double.keys(), ["f/a"])
        double.fail(undefined)
        assert.strictEqual(yield* store.put("f/b", "y"), "created")
        assert.deepStrictEqual(keys(yield* store.list("f/")), ["f/a", "f/b"])
      })
    )
  }
})
