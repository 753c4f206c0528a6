/**
 * The group's compaction of etcd's history (`internal/etcd/compactor.ts`)
 * against a real etcd started here: a tick compacts to the revision of the
 * tick before it, of two instances only one compacts per round, and a store
 * made with `compaction` ticks on its own (driven by the TestClock).
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Duration, Effect, TestClock } from "effect"
import * as Etcd from "../../../src/KvStore/Etcd.js"
import * as Compactor from "../../../src/internal/etcd/compactor.js"
import * as Connection from "../../../src/internal/etcd/connection.js"
import { type EtcdServer, etcdAvailable, startEtcd } from "../../support/etcd.js"

const available = etcdAvailable()

let server: EtcdServer

const connect = () => Connection.make({ endpoints: [server.endpoint], timeout: Duration.seconds(3) })

/** Whether etcd still holds `revision` of `key`: false once it is compacted away. */
const holds = (key: string, revision: bigint) =>
  Effect.promise(() =>
    server.etcdctl("get", key, `--rev=${revision}`).then(
      () => true,
      (error: Error) => {
        if (/compacted/.test(error.message)) return false
        throw error
      }
    )
  )

const put = (key: string) => Effect.promise(() => server.etcdctl("put", key, "v"))

describe.skipIf(!available)("etcd compaction by the group (real etcd)", () => {
  beforeAll(async () => {
    server = await startEtcd()
  })
  afterAll(async () => {
    await server?.dispose()
  })

  it.scopedLive("a tick compacts to the revision of the tick before; the first only records it", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      yield* put("a")
      yield* put("a")
      const first = yield* Compactor.tick(conn, Compactor.START)
      assert.isUndefined(first.compacted, "nothing seen an interval ago yet")
      assert.isTrue(yield* holds("a", first.revision - 1n))
      yield* put("a")
      const second = yield* Compactor.tick(conn, first)
      assert.strictEqual(second.compacted, first.revision)
      assert.isFalse(yield* holds("a", first.revision - 1n), "history before the last tick is gone")
      assert.isTrue(yield* holds("a", first.revision), "history since the last tick is kept")
      assert.isTrue(second.revision > first.revision)
    })
  )

  it.scopedLive("of two instances ticking, one compacts per round", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      let a = yield* Compactor.tick(conn, Compactor.START)
      let b = yield* Compactor.tick(conn, Compactor.START)
      const compactions: Array<string> = []
      for (let round = 0; round < 3; round++) {
        yield* put("b")
        a = yield* Compactor.tick(conn, a)
        if (a.compacted !== undefined) compactions.push(`a${round}`)
        b = yield* Compactor.tick(conn, b)
        if (b.compacted !== undefined) compactions.push(`b${round}`)
      }
      // In each round the first to tick moves the key and compacts; the other only learns its version.
      assert.deepStrictEqual(compactions, ["a0", "a1", "a2"])
    })
  )

  it.scoped("a store made with compaction ticks every interval", () =>
    Effect.gen(function* () {
      const written = BigInt(
        /"revision":(\d+)/.exec(
          yield* Effect.promise(() => server.etcdctl("put", "c", "v", "-w", "json"))
        )![1]!
      )
      const prefix = `compact${process.pid}`
      yield* Etcd.make({ endpoints: [server.endpoint], timeout: "3 seconds", prefix, compaction: "1 minute" })
      // Its first tick, at once: it only records the revision (the key's name starts with NUL: list them all).
      const ticked = () =>
        server
          .etcdctl("get", "--from-key", "", "--keys-only")
          .then((keys) => keys.includes(`${prefix}/\u0000compaction`))
      assert.isTrue(yield* Effect.promise(() => waitFor(ticked)), "the first tick")
      assert.isTrue(yield* holds("c", written))
      yield* TestClock.adjust(Duration.minutes(1))
      // The tick's etcd calls run on etcd's time, not the TestClock's: wait for their effect.
      const compacted = yield* Effect.promise(() =>
        waitFor(() => Effect.runPromise(holds("c", written)).then((kept) => !kept))
      )
      assert.isTrue(
        compacted,
        "compacted one interval later, past the revision written before the first tick"
      )
    })
  )
})

/** Polls `check` every 20 ms for up to 5 s: for what another process does on its own time. */
const waitFor = async (check: () => Promise<boolean>) => {
  for (let i = 0; i < 250; i++) {
    if (await check()) return true
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  return false
}
