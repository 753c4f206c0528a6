/**
 * `memory://name`: an in-process backend. Every layer built with the same
 * name in one process shares one store, and its TTLs run on Effect's `Clock`.
 */
import { Effect, type Scope } from "effect"
import type { DiscoveryShape, ResolvedOptions } from "../Discovery.js"
import { type DiscoveryError, InvalidUrl } from "../DiscoveryError.js"
import * as MemoryStore from "../KvStore/Memory.js"
import * as Kv from "./Kv.js"

export const make = (
  rest: string,
  options: ResolvedOptions
): Effect.Effect<DiscoveryShape, DiscoveryError, Scope.Scope> => {
  const name = rest.replace(/\/+$/, "")
  if (!/^[A-Za-z0-9._-]*$/.test(name)) {
    return Effect.fail(
      new InvalidUrl({
        url: `memory://${rest}`,
        reason: "the name may hold only letters, digits, '.', '-' and '_'"
      })
    )
  }
  return Effect.succeed(
    Kv.make(MemoryStore.getNamed(name), {
      backend: "memory",
      target: `memory://${name}`,
      directory: Kv.directory("", options.options),
      ttl: options.ttl
    })
  )
}
