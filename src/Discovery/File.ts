/** STUB: `file://` backend, to be written. */
import { Effect, type Scope } from "effect"
import type { DiscoveryShape, ResolvedOptions } from "../Discovery.js"
import { type DiscoveryError, NotImplemented } from "../DiscoveryError.js"

export const make = (
  _rest: string,
  _options: ResolvedOptions
): Effect.Effect<DiscoveryShape, DiscoveryError, Scope.Scope> =>
  Effect.fail(new NotImplemented({ backend: "file", operation: "start (not written yet)" }))
