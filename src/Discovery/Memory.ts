/**
 * `memory://name`: an in-process backend whose TTLs run on Effect's `Clock`.
 * Each backend built gets a store of its own (the name only labels it), so
 * no state leaks from one test to the next. To share one on purpose, provide
 * a `KvStore` (for instance `MemoryKvStore.layer`) to everything that builds
 * `memory://` backends, or use `Discovery.layerKvStore`.
 */
import { Effect, Option, type Scope } from "effect"
import type { Backend, ResolvedOptions } from "./Backend.js"
import { type DiscoveryError, InvalidUrl } from "../DiscoveryError.js"
import { KvStore } from "../KvStore.js"
import * as MemoryStore from "../KvStore/Memory.js"
import * as Kv from "./Kv.js"

export const make = (
  rest: string,
  options: ResolvedOptions
): Effect.Effect<Backend, DiscoveryError, Scope.Scope> => {
  const name = rest.replace(/\/+$/, "")
  if (!/^[A-Za-z0-9._-]*$/.test(name)) {
    return Effect.fail(
      new InvalidUrl({
        url: `memory://${rest}`,
        reason: "the name may hold only letters, digits, '.', '-' and '_'"
      })
    )
  }
  return Effect.map(Effect.serviceOption(KvStore), (shared) =>
    Kv.make(Option.getOrElse(shared, MemoryStore.unsafeMake), {
      backend: "memory",
      target: `memory://${name}`,
      directory: Kv.directory("", options.options),
      ttl: options.ttl
    })
  )
}
