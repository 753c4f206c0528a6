/**
 * The shared conformance suite over every backend that can register and needs
 * no external process: `memory://` on the TestClock, and `token://` over a real
 * in-process `swarm serve` (memory store, SQLite store) on the live clock.
 */
import { Context, Effect, Layer } from "effect"
import * as Discovery from "../../src/Discovery.js"
import * as Token from "../../src/Discovery/Token.js"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as MemoryKvStore from "../../src/KvStore/Memory.js"
import * as SqliteKvStore from "../../src/KvStore/Sqlite.js"
import { KvStore, type KvStoreShape } from "../../src/KvStore.js"
import * as Server from "../../src/Server/Server.js"
import { conformance } from "../support/conformance.js"

conformance("memory://", {
  clock: "test",
  layer: Layer.empty,
  // A fresh store per cluster, shared on purpose by the cluster's clients.
  cluster: Effect.sync(() => {
    const store = MemoryKvStore.unsafeMake()
    return (options) => Discovery.makeKvStore(options).pipe(Effect.provideService(KvStore, store))
  })
})

/** The service URL of a discovery server started for the suite. */
class Service extends Context.Tag("test/TokenService")<Service, string>() {}

const serverOver = <E, R>(store: Effect.Effect<KvStoreShape, E, R>) =>
  Layer.scoped(
    Service,
    Effect.flatMap(store, (store) => Server.listen({ store, host: "127.0.0.1", port: 0 })).pipe(
      Effect.map((listening) => listening.url)
    )
  )

/** A new cluster from `POST /v1/clusters`; clients use the explicit `token://http://…/<token>` form. */
const tokenCluster = Effect.gen(function* () {
  const service = yield* Service
  const token = yield* Token.createCluster(service)
  return (options: Discovery.DiscoveryOptions) => Discovery.make(`token://${service}/${token}`, options)
})

conformance("token:// over swarm serve (memory store)", {
  clock: "live",
  layer: serverOver(Effect.sync(MemoryKvStore.unsafeMake)),
  cluster: tokenCluster
})

conformance("token:// over swarm serve (SQLite store)", {
  clock: "live",
  layer: serverOver(
    Effect.acquireRelease(
      Effect.sync(() => mkdtempSync(join(tmpdir(), "swarm-conformance-"))),
      (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
    ).pipe(Effect.flatMap((dir) => SqliteKvStore.make({ filename: join(dir, "discovery.db") })))
  ),
  cluster: tokenCluster
})
