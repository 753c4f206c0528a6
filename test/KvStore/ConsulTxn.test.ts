/**
 * A TTL put's write is one Consul transaction (read and lock the key): the
 * double's `/v1/txn` as Consul's sources define it, and the store's use of it.
 */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Fiber, TestClock } from "effect"
import * as Consul from "../../src/KvStore/Consul.js"
import { foreignSession, httpPut, httpPutJson, until } from "../support/consul/Fixtures.js"
import { consulDouble, ManualClock } from "../support/consulDouble.js"

const setup = Effect.gen(function* () {
  const clock = new ManualClock()
  const double = yield* consulDouble({ clock })
  const store = yield* Consul.make({ address: double.address })
  return { clock, double, store }
})

const b64 = (text: string) => Buffer.from(text).toString("base64")

interface TxnBody {
  readonly Results: ReadonlyArray<{ readonly KV: Record<string, unknown> }> | null
  readonly Errors: ReadonlyArray<{ readonly OpIndex: number; readonly What: string }> | null
}

describe("the Consul double's /v1/txn", () => {
  it.scoped("runs in order: get-tree sees the state before the lock; a write's result has no value", () =>
    Effect.gen(function* () {
      const { double } = yield* setup
      const session = yield* foreignSession(double)
      yield* httpPut(double, "/v1/kv/a/x", "old")
      const before = double.index
      const { json, status } = yield* httpPutJson(double, "/v1/txn", [
        { KV: { Verb: "get-tree", Key: "a/x" } },
        { KV: { Verb: "lock", Key: "a/x", Value: b64("new"), Session: session } }
      ])
      assert.strictEqual(status, 200)
      const { Errors, Results } = json as TxnBody
      assert.isNull(Errors)
      assert.strictEqual(Results?.length, 2)
      assert.strictEqual(Results?.[0]?.KV.Value, b64("old"))
      assert.isNull(Results?.[1]?.KV.Value)
      assert.strictEqual(Results?.[1]?.KV.Session, session)
      assert.strictEqual(Results?.[1]?.KV.LockIndex, 1)
      assert.deepInclude(double.get("a/x"), { value: "new", session, modifyIndex: before + 1 })
    })
  )

  it.scoped("all or nothing: any failing op rolls back every write and answers 409 with each reason", () =>
    Effect.gen(function* () {
      const { double } = yield* setup
      const before = double.kvIndex
      const { contentType, json, status } = yield* httpPutJson(double, "/v1/txn", [
        { KV: { Verb: "set", Key: "b/1", Value: b64("x") } },
        { KV: { Verb: "lock", Key: "b/2", Value: b64("y"), Session: "nope" } },
        { KV: { Verb: "get", Key: "b/missing" } }
      ])
      assert.strictEqual(status, 409)
      assert.strictEqual(contentType, "application/json")
      assert.deepStrictEqual(json, {
        Results: null,
        Errors: [
          { OpIndex: 1, What: 'invalid session "nope"' },
          { OpIndex: 2, What: 'key "b/missing" doesn\'t exist' }
        ]
      })
      assert.deepStrictEqual(double.keys(), [])
      // The raft index is spent (as Consul's), the KV's is not: no reader sees a change.
      assert.strictEqual(double.kvIndex, before)
    })
  )

  it.scoped("a lock another session holds fails; one in its lock delay fails before any op runs", () =>
    Effect.gen(function* () {
      const { double } = yield* setup
      const holder = yield* foreignSession(double, "15s")
      const other = yield* foreignSession(double)
      const lock = (session: string) => ({
        KV: { Verb: "lock", Key: "c/k", Value: b64("v"), Session: session }
      })
      assert.strictEqual((yield* httpPutJson(double, "/v1/txn", [lock(holder)])).status, 200)
      const held = yield* httpPutJson(double, "/v1/txn", [lock(other)])
      assert.deepStrictEqual(held.json, {
        Results: null,
        Errors: [{ OpIndex: 0, What: 'failed to lock key "c/k", lock is already held' }]
      })
      // Destroying the holder deletes its key and starts the key's 15s lock delay.
      yield* httpPut(double, `/v1/session/destroy/${holder}`, "")
      const delayed = yield* httpPutJson(double, "/v1/txn", [
        { KV: { Verb: "set", Key: "c/other", Value: b64("x") } },
        lock(other)
      ])
      assert.deepStrictEqual(delayed.json, {
        Results: null,
        Errors: [{ OpIndex: 1, What: 'failed to lock key "c/k" due to lock delay' }]
      })
      assert.deepStrictEqual(double.keys(), [])
    })
  )

  it.scoped("more than 64 ops is a 413; a body that is not a list of ops is a 400", () =>
    Effect.gen(function* () {
      const { double } = yield* setup
      const many = Array.from({ length: 65 }, (_, i) => ({ KV: { Verb: "get", Key: `k${i}` } }))
      const tooMany = yield* httpPutJson(double, "/v1/txn", many)
      assert.strictEqual(tooMany.status, 413)
      assert.include(String(tooMany.json), "(65 > 64)")
      assert.strictEqual((yield* httpPutJson(double, "/v1/txn", "{not json")).status, 400)
      assert.strictEqual((yield* httpPutJson(double, "/v1/txn", { KV: {} })).status, 400)
    })
  )
})

describe("KvStore/Consul: a TTL put's write is one transaction", () => {
  it.scoped("a new key is written without a read first; a later key's renewal waits for its write", () =>
    Effect.gen(function* () {
      const { double, store } = yield* setup
      assert.strictEqual(yield* store.put("n/a", "x", { ttl: "30 seconds" }), "created")
      assert.strictEqual(double.count("GET", "/v1/kv/"), 0)
      assert.strictEqual(double.count("PUT", "/v1/txn"), 1)
      assert.strictEqual(yield* store.put("n/b", "y", { ttl: "30 seconds" }), "created")
      assert.strictEqual(yield* store.put("n/b", "y2", { ttl: "30 seconds" }), "updated")
      assert.deepInclude(double.get("n/b"), { value: "y2", session: double.sessions()[0]!.id })
      // Watchers hear of a write before the renewal is sent: while the write is unanswered, no renewal comes.
      const renewals = double.count("PUT", "/v1/session/renew/")
      double.stall(true)
      // Answering again before the scope closes, so the store's session is destroyed whatever the outcome.
      yield* Effect.addFinalizer(() => Effect.sync(() => double.stall(false)))
      const put = yield* Effect.fork(Effect.flip(store.put("n/c", "z", { ttl: "30 seconds" })))
      yield* until(() => double.count("PUT", "/v1/txn") === 4, "the write to arrive")
      yield* TestClock.adjust(Duration.seconds(10))
      assert.strictEqual((yield* Fiber.join(put)).reason, "Timeout")
      // Checked after the next request Consul answers: no renewal came while the write was unanswered.
      double.stall(false)
      yield* store.list("n/")
      assert.strictEqual(double.count("PUT", "/v1/session/renew/"), renewals)
    })
  )

  it.scoped("a key written by someone else, or changed under our refresh, is written and says updated", () =>
    Effect.gen(function* () {
      const { double, store } = yield* setup
      yield* httpPut(double, "/v1/kv/n/c", "plain")
      assert.strictEqual(yield* store.put("n/c", "ours", { ttl: "30 seconds" }), "updated")
      yield* httpPut(double, "/v1/kv/n/c", "changed")
      // The same value as our last write, but Consul's copy differs: the refresh writes it back.
      assert.strictEqual(yield* store.put("n/c", "ours", { ttl: "30 seconds" }), "updated")
      assert.strictEqual(double.get("n/c")?.value, "ours")
      assert.strictEqual(double.count("PUT", "/v1/txn"), 2)
    })
  )

  it.scoped("a key another session holds is taken over by deleting and locking it in one transaction", () =>
    Effect.gen(function* () {
      const { double, store } = yield* setup
      const other = yield* foreignSession(double)
      yield* httpPut(double, `/v1/kv/n/a?acquire=${other}`, "theirs")
      assert.strictEqual(yield* store.put("n/a", "mine", { ttl: "60 seconds" }), "updated")
      const entry = double.get("n/a")!
      assert.strictEqual(entry.value, "mine")
      assert.notStrictEqual(entry.session, other)
      // No DELETE on its own: the key was never missing between their lock and ours.
      assert.strictEqual(double.count("DELETE", "/v1/kv/"), 0)
      assert.strictEqual(double.count("PUT", "/v1/txn"), 2)
    })
  )

  it.scoped("a session that lapsed before the write: the transaction says so, a new session writes it", () =>
    Effect.gen(function* () {
      const { clock, double, store } = yield* setup
      yield* store.put("n/a", "x", { ttl: "30 seconds" })
      const first = double.sessions()[0]!.id
      clock.advance(30_000)
      assert.deepStrictEqual(double.sessions(), [])
      assert.strictEqual(yield* store.put("n/b", "y", { ttl: "30 seconds" }), "created")
      const second = double.sessions()[0]!.id
      assert.notStrictEqual(second, first)
      assert.strictEqual(double.get("n/b")?.session, second)
      assert.strictEqual(double.count("PUT", "/v1/txn"), 3)
    })
  )

  it.scoped(
    "a transaction Consul refuses for another reason is a BadResponse that gives Consul's reason",
    () =>
      Effect.gen(function* () {
        const { double, store } = yield* setup
        const holder = yield* foreignSession(double, "15s")
        yield* httpPut(double, `/v1/kv/n/d?acquire=${holder}`, "theirs")
        yield* httpPut(double, `/v1/session/destroy/${holder}`, "")
        const error = yield* Effect.flip(store.put("n/d", "mine", { ttl: "60 seconds" }))
        assert.strictEqual(error.reason, "BadResponse")
        assert.include(error.detail, `Consul at http://${double.address} answered 409 to PUT /v1/txn`)
        assert.include(error.detail, 'failed to lock key "n/d" due to lock delay')
      })
  )
})
