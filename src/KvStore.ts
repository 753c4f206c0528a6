/**
 * The storage service under the kv discovery backends and the discovery server.
 *
 * Keys are plain strings with `/` as separator; values are strings. Every key
 * may carry a TTL. `watch(prefix)` is a stream of snapshots: the current one
 * first, then one after every change under the prefix, each with an `index`
 * that only grows (a store may also bump it for unrelated changes; consumers
 * compare contents, never rely on gaps).
 */
import { Context, Data, type Duration, type Effect, type Stream } from "effect"

export interface KvPair {
  readonly key: string
  readonly value: string
}

export interface KvSnapshot {
  /** Sorted by key. */
  readonly pairs: ReadonlyArray<KvPair>
  /** Grows whenever the contents under the prefix change. */
  readonly index: number
}

export interface PutOptions {
  /** The key vanishes this long after the put unless it is put again. */
  readonly ttl?: Duration.DurationInput
  /**
   * Refuse to create a new key when `prefix` already holds `max` keys
   * (refreshing an existing key is always allowed). Exact on local stores,
   * best effort on distributed ones.
   */
  readonly limit?: { readonly prefix: string; readonly max: number }
}

/** PEM files a networked store presents or trusts (the discovery-opts `kv.cacertfile`, `kv.certfile`, `kv.keyfile`). */
export interface TlsFiles {
  /** The CA certificate(s) that sign the server's certificate. */
  readonly ca?: string
  /** A client certificate, for mutual TLS (with `key`). */
  readonly cert?: string
  /** The client certificate's private key. */
  readonly key?: string
}

export type PutResult = "created" | "updated"

export class KvError extends Data.TaggedError("KvError")<{
  readonly store: string
  readonly reason: "Unavailable" | "Timeout" | "BadResponse" | "LimitExceeded" | "Invalid"
  readonly detail: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `${this.store}: ${this.reason}: ${this.detail}`
  }
}

export interface KvStoreShape {
  readonly put: (key: string, value: string, options?: PutOptions) => Effect.Effect<PutResult, KvError>
  /** Returns whether the key existed. */
  readonly delete: (key: string) => Effect.Effect<boolean, KvError>
  /** Removes every key under the prefix; returns how many. */
  readonly deletePrefix: (prefix: string) => Effect.Effect<number, KvError>
  readonly list: (prefix: string) => Effect.Effect<KvSnapshot, KvError>
  /** The current snapshot first, then one per change under the prefix. */
  readonly watch: (prefix: string) => Stream.Stream<KvSnapshot, KvError>
  /**
   * When each live key under the prefix expires, in ms since the epoch (keys without a TTL are left
   * out). Optional, and for tools such as the web console: not a hot path.
   */
  readonly expiries?: (prefix: string) => Effect.Effect<ReadonlyMap<string, number>, KvError>
  /**
   * How many keys are under the prefix, without listing them. Optional: where a store has no cheaper way
   * than a list, callers list. May lag the last writes on a distributed store.
   */
  readonly count?: (prefix: string) => Effect.Effect<number, KvError>
  /**
   * The bound on one operation of a networked store (etcd, Consul, ZooKeeper). A caller that runs several
   * operations for one request (the server's registration of a new key) bounds their sum by it, so a
   * client's answer comes within this time whatever the store does. None for a local store.
   */
  readonly timeout?: Duration.Duration
  /**
   * Bounds every operation `effect` runs on this store, together, by `ms`: a fiber-local deadline, so
   * nothing is forked per request (`Effect.timeoutFail` forks a racing fiber, tens of µs of CPU each).
   * Optional; a caller bounding several operations by `timeout` uses `Effect.timeoutFail` without it.
   */
  readonly within?: (ms: number) => <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
}

export class KvStore extends Context.Tag("swarm-discovery/KvStore")<KvStore, KvStoreShape>() {}
