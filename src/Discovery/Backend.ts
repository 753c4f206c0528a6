/**
 * The contract between the `Discovery` service and its backends (`Discovery/*.ts`): the service's
 * shape, the options a backend is built with, and what a backend builds. A leaf, so the backends need
 * not import `Discovery.ts`, which loads them.
 */
import type { Duration, Effect, Stream } from "effect"
import type { DiscoveryError } from "../DiscoveryError.js"
import type * as Entries from "../Entries.js"
import type * as Entry from "../Entry.js"

export interface DiscoveryShape {
  /** One registration, with the configured TTL. Fails with `InvalidEntry`, before any I/O, on a bad entry. */
  readonly register: (entry: Entry.Entry) => Effect.Effect<void, DiscoveryError>
  /** Leave now. Fails with `NotImplemented` where the backend cannot. */
  readonly deregister: (entry: Entry.Entry) => Effect.Effect<void, DiscoveryError>
  /** The current members first, then the members after every change. */
  readonly watch: Stream.Stream<Entries.Entries, DiscoveryError>
  /**
   * `true` for backends that can never register (`nodes`, `file`), so `join`
   * fails before its random delay rather than after it. Optional: absent means
   * "try and see".
   */
  readonly readOnly?: boolean
  /**
   * The options the service was built with, defaults filled in (`make` and
   * `layer` always set them; `Join.join` takes its heartbeat from here).
   * Optional so that a hand-written test double need not.
   */
  readonly options?: ResolvedOptions
}

export interface ResolvedOptions {
  readonly heartbeat: Duration.Duration
  readonly ttl: Duration.Duration
  readonly options: Readonly<Record<string, string>>
}

/** What a backend builds; `make` adds the entry checks and the options. */
export type Backend = Omit<DiscoveryShape, "options">
