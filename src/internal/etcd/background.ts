/**
 * Requests a store sends on its own (lease grants ahead of need, revokes):
 * not part of any caller's fiber, and finished, within a bound, before the
 * store closes, so that a closed store leaves no lease it granted behind.
 */
import { Duration, Effect, Fiber, type Scope } from "effect"

/** Waits this long at most for requests still running when the store closes. */
const DRAIN = Duration.seconds(2)

export interface Background {
  readonly run: (effect: Effect.Effect<unknown>) => Effect.Effect<void>
  /** Waits (bounded) until nothing runs. */
  readonly drain: Effect.Effect<void>
}

export const make: Effect.Effect<Background, never, Scope.Scope> = Effect.gen(function* () {
  const running = new Set<Fiber.RuntimeFiber<unknown>>()
  const drain = Effect.suspend(() => Fiber.awaitAll([...running])).pipe(Effect.timeout(DRAIN), Effect.ignore)
  yield* Effect.addFinalizer(() => drain)
  const run = (effect: Effect.Effect<unknown>) =>
    Effect.forkDaemon(effect).pipe(
      Effect.map((fiber) => {
        running.add(fiber)
        fiber.addObserver(() => running.delete(fiber))
      })
    )
  return { run, drain }
})
