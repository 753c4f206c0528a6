/**
 * A change signal: many waiters, woken together by one `notify`.
 *
 * The one primitive behind every "wait until something changed" in the stores,
 * instead of a `Deferred` re-armed by hand at each site. `version` counts
 * notifications, so a waiter reads it before looking at the state and then
 * waits with `awaitChange(seen)`: a notify in between is never missed.
 */
import { Deferred, Effect, Exit, FiberId } from "effect"

export interface ChangeSignal {
  /** How many times `notify` has run. */
  readonly version: () => number
  /** Completes once `version()` is above `seen` (at once if it already is). */
  readonly awaitChange: (seen: number) => Effect.Effect<void>
  /** Completes at the next notify after it starts. */
  readonly next: Effect.Effect<void>
  /** Wakes every waiter. Safe from plain callbacks (socket events, timers). */
  readonly unsafeNotify: () => void
  readonly notify: Effect.Effect<void>
}

export const make = (): ChangeSignal => {
  let version = 0
  let pending = Deferred.unsafeMake<void>(FiberId.none)
  const unsafeNotify = () => {
    version++
    const woken = pending
    pending = Deferred.unsafeMake<void>(FiberId.none)
    Deferred.unsafeDone(woken, Exit.void)
  }
  const awaitChange = (seen: number) =>
    Effect.suspend(() => (version > seen ? Effect.void : Deferred.await(pending)))
  return {
    version: () => version,
    awaitChange,
    next: Effect.suspend(() => awaitChange(version)),
    unsafeNotify,
    notify: Effect.sync(unsafeNotify)
  }
}
