/** STUB: ZooKeeper KvStore, to be written. */
import { type Duration, Effect, Layer, type Scope } from "effect"
import type { TlsFiles } from "../Discovery/Kv.js"
import { KvError, KvStore, type KvStoreShape } from "../KvStore.js"

export interface ZookeeperConfig {
  readonly hosts: ReadonlyArray<string>
  /** The session timeout; entries put with a TTL are ephemeral and live as long as the session. */
  readonly sessionTimeout: Duration.DurationInput
  readonly tls?: TlsFiles
}

export const make = (_config: ZookeeperConfig): Effect.Effect<KvStoreShape, KvError, Scope.Scope> =>
  Effect.fail(new KvError({ store: "zk", reason: "Unavailable", detail: "not written yet" }))

export const layer = (config: ZookeeperConfig): Layer.Layer<KvStore, KvError> =>
  Layer.scoped(KvStore, make(config))
