/**
 * Failures are logged, not leaked: a store failure reaches the operator's log
 * once per cause and interval (TestClock), is counted in /metrics, and its
 * answer names no server path.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger, TestClock } from "effect"
import { KvError, type KvStoreShape } from "../../src/KvStore.js"
import * as Memory from "../../src/KvStore/Memory.js"
import * as Server from "../../src/Server/Server.js"

const TOKEN = "0123456789abcdef0123456789abcdef"
const C = `/v1/clusters/${TOKEN}`
const PATH = "/var/lib/swarm-discovery/discovery.db"

/** A memory store whose writes fail the way SQLite's do on a full disk. */
const fullDisk = (): KvStoreShape => {
  const store = Memory.unsafeMake()
  const full = new KvError({
    store: "sqlite",
    reason: "Unavailable",
    detail: `cannot commit to ${PATH}: SQLITE_FULL: database or disk is full`
  })
  return { ...store, put: () => Effect.fail(full), deletePrefix: () => Effect.fail(full) }
}

const capture = () => {
  const lines: Array<string> = []
  const logger = Logger.make(({ logLevel, message }) => {
    const text = Array.isArray(message) ? message.join(" ") : String(message)
    lines.push(`${logLevel.label} ${text}`)
  })
  return { lines, layer: Logger.replace(Logger.defaultLogger, logger) }
}

describe("Server failures", () => {
  it.scoped("a full disk: 503 without the path, logged once per 10s with the count, in /metrics", () => {
    const log = capture()
    return Effect.gen(function* () {
      const h = yield* Server.makeHandler({ store: fullDisk() })
      for (let i = 0; i < 5; i++) {
        const r = yield* h.handle("POST", C, `10.0.0.${i + 1}:2375`)
        assert.strictEqual(r.status, 503)
        assert.notInclude(r.body, PATH)
        assert.notInclude(r.body, "SQLITE_FULL")
        assert.include(r.body, "try again later")
        assert.strictEqual(r.headers?.["Retry-After"], "1")
      }
      // Reads still work.
      assert.strictEqual((yield* h.handle("GET", C, "")).status, 200)
      const first = log.lines.filter((l) => l.includes("SQLITE_FULL"))
      assert.strictEqual(first.length, 1, log.lines.join("\n"))
      assert.include(first[0]!, PATH)
      assert.match(first[0]!, /^ERROR /)

      yield* TestClock.adjust("10 seconds")
      yield* h.handle("DELETE", C, "")
      const second = log.lines.filter((l) => l.includes("SQLITE_FULL"))
      assert.strictEqual(second.length, 2)
      assert.include(second[1]!, "4 more")
      assert.include(second[1]!, "delete_cluster")

      const metrics = (yield* h.handle("GET", "/metrics", "")).body
      assert.include(metrics, 'swarm_discovery_server_errors_total{cause="store_unavailable"} 6\n')
    }).pipe(Effect.provide(log.layer))
  })

  it.scoped("each cause has its own allowance", () => {
    const log = capture()
    return Effect.gen(function* () {
      const h = yield* Server.makeHandler({ store: Memory.unsafeMake() })
      yield* h.failures.report("store_unavailable", "one")
      yield* h.failures.report("store_timeout", "two")
      yield* h.failures.report("store_unavailable", "three")
      assert.deepStrictEqual(
        log.lines.map((l) => l.replace(/^ERROR answered 5xx: /, "")),
        ["store_unavailable: one", "store_timeout: two"]
      )
    }).pipe(Effect.provide(log.layer))
  })
})
