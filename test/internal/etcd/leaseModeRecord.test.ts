/**
 * One lease mode per etcd prefix (`internal/etcd/leaseModeRecord.ts`), against
 * a real etcd started here: the first store over a prefix records its mode, a
 * store with the other mode is refused (its claim, which `swarm serve` makes at
 * start, and every put) with an error that says what to do, other prefixes are
 * their own, a store that only reads records nothing, and an etcd that is down
 * at first is claimed before the first write once it is up.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { KvError } from "../../../src/KvStore.js"
import * as Etcd from "../../../src/KvStore/Etcd.js"
import { type EtcdServer, etcdAvailable, startEtcd } from "../../support/etcd.js"
import { freePort } from "../../support/net.js"

const available = etcdAvailable()

let server: EtcdServer
let run = 0
const fresh = () => `mode${process.pid}-${++run}`

const store = (prefix: string, leases: Etcd.LeaseMode | undefined, endpoint = server.endpoint) =>
  Etcd.make({ endpoints: [endpoint], timeout: "2 seconds", prefix, ...(leases ? { leases } : {}) })

const refusal = <A>(exit: Exit.Exit<A, KvError>): KvError => {
  assert.isTrue(Exit.isFailure(exit), "refused")
  const error = Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error : undefined
  assert.instanceOf(error, KvError)
  return error as KvError
}
const claimOf = (prefix: string, leases: Etcd.LeaseMode | undefined) =>
  Effect.flatMap(store(prefix, leases), (kv) => Effect.exit(kv.claimLeaseMode))
/** The record's value ("" when none): its key starts with NUL, which no argument can hold, so read a range. */
const recordOf = (prefix: string) =>
  Effect.promise(async () => {
    const lines = (await server.etcdctl("get", `${prefix}/`, `${prefix}/\u0001`)).split("\n")
    const at = lines.findIndex((line) => line === `${prefix}/\u0000lease-mode`)
    return at < 0 ? "" : lines[at + 1]!
  })

describe.skipIf(!available)("etcd lease mode, one per prefix (real etcd)", () => {
  beforeAll(async () => {
    server = await startEtcd()
  })
  afterAll(async () => {
    await server?.dispose()
  })

  it.scopedLive(
    "the first store records its mode; the same mode writes, the other is refused and told why",
    () =>
      Effect.gen(function* () {
        const prefix = fresh()
        const first = yield* store(prefix, "shared")
        assert.strictEqual(yield* recordOf(prefix), "", "nothing recorded before a write")
        assert.strictEqual(yield* first.put("c/a", "v", { ttl: "30 seconds" }), "created")
        assert.strictEqual(yield* recordOf(prefix), "shared", "recorded under the prefix, as a reserved key")
        const again = yield* store(prefix, "shared")
        assert.isTrue(Exit.isSuccess(yield* Effect.exit(again.claimLeaseMode)))
        assert.strictEqual(yield* again.put("c/b", "v", { ttl: "30 seconds" }), "created")

        const other = yield* store(prefix, "per-key")
        const error = refusal(yield* Effect.exit(other.claimLeaseMode))
        assert.strictEqual(error.reason, "Invalid")
        for (const part of ['"per-key"', '"shared"', `"${prefix}/"`, "--store-opt kv.leases=shared"])
          assert.include(error.detail, part)
        assert.strictEqual(
          refusal(yield* Effect.exit(other.put("c/x", "v", { ttl: "30 seconds" }))).reason,
          "Invalid"
        )
        assert.deepStrictEqual(
          (yield* other.list("c/")).pairs.map((p) => p.key),
          ["c/a", "c/b"],
          "reads still work"
        )
        // The default is one lease per entry: refused too.
        assert.strictEqual(refusal(yield* claimOf(prefix, undefined)).reason, "Invalid")

        // The record is the store's own: not an entry, not a cluster.
        assert.deepStrictEqual(
          (yield* first.list("")).pairs.map((p) => p.key),
          ["c/a", "c/b"]
        )
        assert.deepStrictEqual(yield* first.stats, { entries: 2, clusters: 1 })
      })
  )

  it.scopedLive("each prefix has its own mode; the default records per-key", () =>
    Effect.gen(function* () {
      const a = fresh()
      const b = fresh()
      assert.isTrue(Exit.isSuccess(yield* claimOf(a, undefined)))
      assert.strictEqual(yield* recordOf(a), "per-key")
      assert.isTrue(Exit.isSuccess(yield* claimOf(b, "shared")))
      assert.isTrue(Exit.isSuccess(yield* claimOf(a, "per-key")))
      assert.strictEqual(refusal(yield* claimOf(a, "shared")).reason, "Invalid")
      assert.strictEqual(refusal(yield* claimOf(b, "per-key")).reason, "Invalid")
    })
  )

  it.scopedLive("etcd down at first: the mode is claimed before the first write once it is up", () =>
    Effect.gen(function* () {
      const port = yield* Effect.promise(() => freePort())
      const endpoint = `127.0.0.1:${port}`
      const matching = yield* store("late", "shared", endpoint)
      const refused = yield* store("late", "per-key", endpoint)
      const unavailable = yield* Effect.flip(matching.claimLeaseMode)
      assert.notStrictEqual(unavailable.reason, "Invalid", "nothing to compare with yet: etcd is down")

      const late = yield* Effect.acquireRelease(
        Effect.promise(() => startEtcd({ clientPort: port })),
        (etcd) => Effect.promise(() => etcd.dispose())
      )
      assert.strictEqual(yield* matching.put("c/a", "v", { ttl: "30 seconds" }), "created")
      const error = yield* Effect.flip(refused.put("c/b", "v", { ttl: "30 seconds" }))
      assert.strictEqual(error.reason, "Invalid")
      assert.include(error.detail, "kv.leases=shared")
      assert.strictEqual(
        yield* Effect.promise(() => late.etcdctl("get", "late/c/b", "--print-value-only")),
        "",
        "the refused write was not made"
      )
    })
  )
})
