/**
 * Leases shared by time (`internal/etcd/leaseBuckets.ts`) on a connection whose lease calls are recorded,
 * under the TestClock: one grant per TTL per bucket, and each lease revoked by the store a TTL after the last
 * transaction that held it ended, never before; a revoke that does not go through is tried again until
 * etcd's own expiry would have ended the lease.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Duration, Effect, Exit, Fiber, Option, Scope, TestClock } from "effect"
import { KvError } from "../../../src/KvStore.js"
import type { Connection } from "../../../src/internal/etcd/connection.js"
import * as LeaseBuckets from "../../../src/internal/etcd/leaseBuckets.js"

const { BUCKET_MS } = LeaseBuckets

interface Calls {
  readonly grants: Array<number>
  /** Revokes that etcd answered, by lease id. */
  readonly revoked: Array<string>
  attempts: number
  /** False: grants asked from now on stay unanswered. */
  grantsAnswered: boolean
  /** How the next revokes fail: so many times, or with etcd's "not found". */
  failing: number | "not found"
}

const recording = (): { conn: Connection; calls: Calls } => {
  const calls: Calls = { grants: [], revoked: [], attempts: 0, grantsAnswered: true, failing: 0 }
  const client = {
    leaseClient: {
      leaseGrant: ({ TTL }: { TTL: number }) => {
        calls.grants.push(TTL)
        const answer = { ID: String(calls.grants.length), TTL: String(TTL) }
        return calls.grantsAnswered ? Promise.resolve(answer) : new Promise<typeof answer>(() => {})
      },
      leaseRevoke: async ({ ID }: { ID: string }) => {
        calls.attempts++
        if (calls.failing === "not found") throw new Error("etcdserver: requested lease not found")
        if (calls.failing > 0) {
          calls.failing--
          throw new Error("no answer")
        }
        calls.revoked.push(ID)
        return {}
      }
    }
  }
  const call = <A>(what: string, f: () => Promise<A>) =>
    Effect.tryPromise({
      try: f,
      catch: (cause) =>
        new KvError({ store: "etcd", reason: "Unavailable", detail: `${what}: ${String(cause)}` })
    })
  return { conn: { call, client } as unknown as Connection, calls }
}

/** Lets the store's fibers run what the clock now allows (their etcd calls are promises). */
const settle = Effect.forEach(Array.from({ length: 5 }), () => Effect.yieldNow(), { discard: true })
const advance = (ms: number) => Effect.zipRight(TestClock.adjust(ms), settle)

/** A transaction holding the lease for TTL `seconds` until `end` runs. */
const hold = (buckets: LeaseBuckets.LeaseBuckets, seconds: number) =>
  Effect.gen(function* () {
    const scope = yield* Scope.make()
    const id = yield* Scope.extend(buckets.leaseFor(seconds), scope)
    return { id, end: Scope.close(scope, Exit.void) }
  })

/**
 * `clock` with timers that fire `ms` early against its time, as Node's may: a timer counts from the event loop's
 * time as of its turn began, which lags the monotonic clock by however long the turn has run.
 */
const firingEarly = (clock: Clock.Clock, ms: number): Clock.Clock => ({
  ...clock,
  sleep: (duration) => clock.sleep(Duration.millis(Math.max(0, Duration.toMillis(duration) - ms)))
})

describe("internal/etcd/leaseBuckets", () => {
  it.scoped("one lease per TTL per bucket, granted for the TTL + 1s", () =>
    Effect.gen(function* () {
      const { calls, conn } = recording()
      const buckets = yield* LeaseBuckets.make(conn)
      const a = yield* hold(buckets, 30)
      yield* advance(BUCKET_MS - 1)
      const b = yield* hold(buckets, 30)
      const other = yield* hold(buckets, 40)
      yield* advance(1)
      const next = yield* hold(buckets, 30)
      yield* settle
      assert.strictEqual(b.id, a.id, "the same bucket: the same lease")
      assert.notStrictEqual(other.id, a.id, "another TTL: a lease of its own")
      assert.notStrictEqual(next.id, a.id, "the next bucket: a new lease")
      // Each bucket's lease, and per TTL the next bucket's, asked when a bucket opens.
      assert.deepStrictEqual(calls.grants, [31, 31, 41, 41, 31])
      assert.strictEqual(next.id, "2", "the next bucket takes the lease asked ahead")
      assert.strictEqual(buckets.count(), 5)
    })
  )

  it.scoped(
    "a bucket's first transaction does not wait for a grant: its lease was asked when the last opened",
    () =>
      Effect.gen(function* () {
        const { calls, conn } = recording()
        const buckets = yield* LeaseBuckets.make(conn)
        yield* hold(buckets, 30)
        yield* settle
        calls.grantsAnswered = false
        yield* advance(BUCKET_MS)
        const next = yield* Effect.fork(hold(buckets, 30))
        yield* settle
        const done = yield* Fiber.poll(next)
        assert.isTrue(Option.isSome(done), "answered while etcd has not answered the grant asked now")
        assert.deepStrictEqual(calls.grants, [31, 31, 31])
      })
  )

  it.scoped("a lease asked ahead too long ago is not used: revoked, and a new one asked", () =>
    Effect.gen(function* () {
      const { calls, conn } = recording()
      const buckets = yield* LeaseBuckets.make(conn)
      const first = yield* hold(buckets, 30)
      yield* first.end
      // The spare was asked at 0: a put at the end of a bucket opening at 800 ms would outlive etcd's expiry of it.
      yield* advance(800)
      const late = yield* hold(buckets, 30)
      yield* settle
      assert.deepStrictEqual(calls.revoked, ["2"])
      assert.strictEqual(late.id, "3", "a lease asked now")
    })
  )

  it.scoped("a lease is revoked a TTL after its last transaction ended, not before", () =>
    Effect.gen(function* () {
      const { calls, conn } = recording()
      const buckets = yield* LeaseBuckets.make(conn)
      const first = yield* hold(buckets, 30)
      yield* advance(100)
      yield* first.end
      yield* advance(100)
      const last = yield* hold(buckets, 30)
      yield* last.end
      // The last use ended at 200 ms: the lease goes at 30.2 s.
      yield* advance(30_000 - 1)
      assert.deepStrictEqual(calls.revoked, [], "a TTL after the first use, the last one's TTL is not over")
      yield* advance(1)
      assert.deepStrictEqual(calls.revoked, [first.id])
      assert.strictEqual(buckets.count(), 1, "only the lease asked ahead for the next bucket")
    })
  )

  it.scoped(
    "a transaction still holding the lease past its bucket puts the revoke off until a TTL after it",
    () =>
      Effect.gen(function* () {
        const { calls, conn } = recording()
        const buckets = yield* LeaseBuckets.make(conn)
        const slow = yield* hold(buckets, 10)
        yield* advance(15_000)
        assert.deepStrictEqual(calls.revoked, [], "held: never revoked, however long")
        yield* slow.end
        yield* advance(10_000 - 1)
        assert.deepStrictEqual(calls.revoked, [])
        yield* advance(1)
        assert.deepStrictEqual(calls.revoked, [slow.id])
      })
  )

  it.scoped("a revoke that fails is tried again, and given up once etcd has expired the lease itself", () =>
    Effect.gen(function* () {
      const { calls, conn } = recording()
      const buckets = yield* LeaseBuckets.make(conn)
      calls.failing = 2
      const a = yield* hold(buckets, 5)
      yield* a.end
      yield* advance(5_000)
      assert.strictEqual(calls.attempts, 1)
      yield* advance(1_000)
      assert.deepStrictEqual(calls.revoked, [a.id], "revoked at the third attempt")
      assert.strictEqual(calls.attempts, 3)

      calls.failing = 1_000
      const before = calls.attempts
      const b = yield* hold(buckets, 5)
      yield* b.end
      yield* advance(20_000)
      const tried = calls.attempts
      assert.isAtLeast(tried - before, 3, "tried again while the lease could still be live")
      yield* advance(20_000)
      assert.strictEqual(calls.attempts, tried, "not after TTL + 1s from its grant: etcd expired it")
      assert.strictEqual(buckets.count(), 1, "only the lease asked ahead for the next bucket")
    })
  )

  it.scoped("a lease etcd no longer has is not asked for again", () =>
    Effect.gen(function* () {
      const { calls, conn } = recording()
      const buckets = yield* LeaseBuckets.make(conn)
      calls.failing = "not found"
      const a = yield* hold(buckets, 5)
      yield* a.end
      yield* advance(5_000)
      yield* advance(5_000)
      assert.strictEqual(calls.attempts, 1)
    })
  )

  it.scoped(
    "a bucket closes when its retire wakes, even before the clock says its quarter second is over",
    () =>
      Effect.gen(function* () {
        const { calls, conn } = recording()
        // The store and its transactions see the early timers (its fibers keep the clock they were forked with).
        const early = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
          Effect.flatMap(Effect.clock, (clock) => Effect.withClock(effect, firingEarly(clock, 5)))
        const buckets = yield* early(LeaseBuckets.make(conn))
        const a = yield* early(hold(buckets, 30))
        yield* a.end
        // The retire wakes now, 5 ms before the bucket's end by the clock: a transaction then gets a new lease.
        yield* advance(BUCKET_MS - 5)
        const b = yield* early(hold(buckets, 30))
        assert.notStrictEqual(b.id, a.id, "a bucket whose retire has begun takes no more transactions")
        yield* advance(1_000)
        yield* b.end // at BUCKET_MS - 5 + 1,000 ms
        yield* advance(30_000 - (BUCKET_MS - 5 + 1_000) + 100) // 100 ms past a TTL after a ended
        assert.include(calls.revoked, a.id, "a's lease revoked a TTL after its last use")
        assert.notInclude(calls.revoked, b.id, "b's lease lives a TTL after b ended")
        yield* advance(BUCKET_MS - 5 + 1_000)
        assert.include(calls.revoked, b.id, "and is revoked then")
      })
  )
})
