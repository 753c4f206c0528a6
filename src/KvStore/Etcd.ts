/** STUB: etcd v3 KvStore, to be written. */
import { Effect, Layer, type Scope } from "effect"
import type { TlsFiles } from "../Discovery/Kv.js"
import { KvError, KvStore, type KvStoreShape } from "../KvStore.js"

export interface EtcdConfig {
  /** `host:port` of each endpoint, or full `http(s)://` URLs. */
  readonly endpoints: ReadonlyArray<string>
  readonly tls?: TlsFiles
}

export const make = (_config: EtcdConfig): Effect.Effect<KvStoreShape, KvError, Scope.Scope> =>
  Effect.fail(new KvError({ store: "etcd", reason: "Unavailable", detail: "not written yet" }))

export const layer = (config: EtcdConfig): Layer.Layer<KvStore, KvError> =>
  Layer.scoped(KvStore, make(config))
