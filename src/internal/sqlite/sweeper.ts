/**
 * The SQLite store's sweeper: one scoped fiber that sleeps on Effect's
 * `Clock` until the next deadline (or until a put plans an earlier one) and
 * deletes what is due in bounded batches, each its own commit, so a mass
 * expiry never stalls requests.
 */
import { Clock, Duration, Effect } from "effect"
import type { KvError } from "../../KvStore.js"
import * as ChangeSignal from "../changeSignal.js"

export interface SweeperOptions {
  /** Keys expired per batch. */
  readonly batch: number
  /** Expires up to `batch` keys due at `now`; how many. */
  readonly sweep: (now: number) => Effect.Effect<number, KvError>
  /** The earliest deadline stored, if any. */
  readonly nextDeadline: Effect.Effect<number | undefined, KvError>
}

export const make = ({ batch, nextDeadline, sweep }: SweeperOptions) => {
  let planned = Number.POSITIVE_INFINITY
  const wake = ChangeSignal.make()

  /** A write with a deadline: wake the sweeper if it is before the one it sleeps for. */
  const plan = (at: number) => {
    if (at < planned) {
      planned = at
      wake.unsafeNotify()
    }
  }

  const round: Effect.Effect<void> = Effect.gen(function* () {
    const now = yield* Clock.currentTimeMillis
    while ((yield* sweep(now)) === batch) yield* Effect.yieldNow()
    const seen = wake.version()
    planned = (yield* nextDeadline) ?? Number.POSITIVE_INFINITY
    const woken = wake.awaitChange(seen)
    yield* planned === Number.POSITIVE_INFINITY
      ? woken
      : Effect.raceFirst(woken, Effect.sleep(Duration.millis(Math.max(0, planned - now))))
  }).pipe(
    Effect.catchAll((error) =>
      // A failing disk: say so, and try again a little later rather than spin.
      Effect.logWarning(`sqlite store: ${error.message}`).pipe(
        Effect.zipRight(Effect.sleep(Duration.seconds(1)))
      )
    )
  )

  return { plan, run: Effect.forever(round) }
}
