/** STUB: Consul KvStore, to be written. */
import { Effect, Layer, type Scope } from "effect"
import type { TlsFiles } from "../Discovery/Kv.js"
import { KvError, KvStore, type KvStoreShape } from "../KvStore.js"

export interface ConsulConfig {
  /** `host:port`, or a full `http(s)://` URL. */
  readonly address: string
  readonly tls?: TlsFiles
}

export const make = (_config: ConsulConfig): Effect.Effect<KvStoreShape, KvError, Scope.Scope> =>
  Effect.fail(new KvError({ store: "consul", reason: "Unavailable", detail: "not written yet" }))

export const layer = (config: ConsulConfig): Layer.Layer<KvStore, KvError> =>
  Layer.scoped(KvStore, make(config))
