/**
 * The shared conformance suite for `token://` over an in-process server whose
 * store is a real etcd (the `swarm serve --store etcd://` set-up).
 */
import { afterAll, beforeAll, describe } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import * as Discovery from "../../src/Discovery.js"
import * as Token from "../../src/Discovery/Token.js"
import * as EtcdKvStore from "../../src/KvStore/Etcd.js"
import * as Server from "../../src/Server/Server.js"
import { conformance } from "../support/conformance.js"
import { type EtcdServer, etcdAvailable, startEtcd } from "../support/etcd.js"

const haveEtcd = etcdAvailable()

/** The service URL of the server started for the suite. */
class Service extends Context.Tag("test/TokenEtcdService")<Service, string>() {}

describe.skipIf(!haveEtcd)("token over etcd", () => {
  let etcd: EtcdServer | undefined
  beforeAll(async () => {
    etcd = await startEtcd()
  }, 60_000)
  afterAll(async () => {
    await etcd?.dispose()
  })

  conformance("token:// over swarm serve (etcd store)", {
    clock: "live",
    // Etcd leases are whole seconds with a floor of about 2s.
    ttl: "3 seconds",
    timeout: "8 seconds",
    layer: Layer.scoped(
      Service,
      Effect.suspend(() =>
        EtcdKvStore.make({ endpoints: [etcd!.endpoint], prefix: `conformance-${process.pid}` })
      ).pipe(
        Effect.flatMap((store) => Server.listen({ store, host: "127.0.0.1", port: 0 })),
        Effect.map((listening) => listening.url)
      )
    ),
    cluster: Effect.gen(function* () {
      const service = yield* Service
      const token = yield* Token.createCluster(service)
      return (options: Discovery.DiscoveryOptions) => Discovery.make(`token://${service}/${token}`, options)
    })
  })
})
