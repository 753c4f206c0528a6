// The SQLite store's integrity check at open: how long `PRAGMA quick_check` takes on a file of N entries
// (the server's key and value shapes, ten entries per cluster), against opening the same file without it, and
// against `integrity_check` (which also cross-checks the index against the table). Medians over rounds, one run.
//   ENTRIES=100000 ROUNDS=5 node bench/sqlite-integrity.bench.mjs
import { mkdtempSync, rmSync, statSync } from "node:fs"
import { createRequire } from "node:module"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { median, report } from "./lib.mjs"

const Driver = createRequire(import.meta.url)("better-sqlite3")
const { Duration, Effect, Exit, Scope } = await import("effect")
const Sqlite = await import("../dist/esm/KvStore/Sqlite.js")

const ENTRIES = Number(process.env.ENTRIES ?? 100_000)
const ROUNDS = Number(process.env.ROUNDS ?? 5)
const dir = mkdtempSync(join(tmpdir(), "swarm-integrity-"))
const filename = join(dir, "discovery.db")

// Fill it through the store itself, so the file has the server's schema, index and page layout.
await Effect.runPromise(
  Effect.scoped(
    Effect.gen(function* () {
      const store = yield* Sqlite.make({ filename })
      for (let i = 0; i < ENTRIES; i++) {
        const address = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:2375`
        const token = ((Math.floor(i / 10) * 2654435761) >>> 0).toString(16).padStart(32, "0")
        yield* store.early.put(`${token}/${address}`, `${address} ttl=180000`, { ttl: Duration.hours(1) })
        if (i % 1000 === 999) yield* Effect.promise(() => new Promise((r) => setImmediate(r)))
      }
    })
  )
)
const bytes = statSync(filename).size

const time = (f) => {
  const started = performance.now()
  f()
  return performance.now() - started
}
const pragma = (sql) => () => {
  const db = new Driver(filename)
  db.pragma(sql, { simple: false })
  db.close()
}
const openStore = () =>
  Effect.runPromise(
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const started = performance.now()
      yield* Sqlite.make({ filename }).pipe(Scope.extend(scope))
      const ms = performance.now() - started
      yield* Scope.close(scope, Exit.void)
      return ms
    })
  )

const samples = { open: [], quick: [], integrity: [], plain: [] }
for (let round = 0; round < ROUNDS; round++) {
  samples.plain.push(time(pragma("user_version")))
  samples.quick.push(time(pragma("quick_check(3)")))
  samples.integrity.push(time(pragma("integrity_check(3)")))
  samples.open.push(await openStore())
}
rmSync(dir, { recursive: true, force: true })

const plain = median(samples.plain)
report(
  "sqlite-integrity",
  [
    { measure: "open the file, no check (driver only)", ms: median(samples.plain) },
    {
      measure: "PRAGMA quick_check (what the store runs)",
      ms: median(samples.quick),
      vs_plain_ms: median(samples.quick) - plain
    },
    {
      measure: "PRAGMA integrity_check (for comparison)",
      ms: median(samples.integrity),
      vs_plain_ms: median(samples.integrity) - plain
    },
    { measure: "Sqlite.make: open, lock, check, load (what swarm serve waits for)", ms: median(samples.open) }
  ],
  { entries: ENTRIES, file_mb: (bytes / 1e6).toFixed(1), rounds: ROUNDS, note: "medians; warm page cache" }
)
