/**
 * `join`: wait a random time in `[0, delay)`, register, then register again
 * every heartbeat. A failed registration is logged and retried at the next
 * heartbeat; it never ends the loop. Leaving (interruption, or closing the
 * scope) deregisters where the backend can.
 */
import { Cause, Duration, Effect, Random, Schedule } from "effect"
import { Discovery, type NotImplemented } from "./Discovery.js"
import * as Entry from "./Entry.js"
import * as GoDuration from "./GoDuration.js"

export interface JoinOptions {
  /** Default 60s. */
  readonly heartbeat?: Duration.DurationInput
  /** Default 0: register at once. */
  readonly delay?: Duration.DurationInput
}

/** How long leaving may take before the process exits anyway (the entry then expires by TTL). */
export const LEAVE_TIMEOUT = Duration.seconds(5)

/** A random wait in `[0, delay)`, drawn from Effect's `Random` so tests can pin it. */
export const randomDelay = (delay: Duration.DurationInput): Effect.Effect<Duration.Duration> => {
  const millis = Math.floor(Duration.toMillis(Duration.decode(delay)))
  return millis <= 0
    ? Effect.succeed(Duration.zero)
    : Effect.map(Random.nextIntBetween(0, millis), Duration.millis)
}

/**
 * Registers once. A backend that can never register (`NotImplemented`) fails
 * at once; any other failure is logged and the loop carries on.
 */
export const registerOnce = (entry: Entry.Entry): Effect.Effect<void, NotImplemented, Discovery> =>
  Effect.flatMap(Discovery, (discovery) =>
    discovery.register(entry).pipe(
      Effect.tap(() => Effect.logDebug(`registered ${Entry.format(entry)}`)),
      Effect.catchAll((error) =>
        error._tag === "NotImplemented"
          ? Effect.fail(error)
          : Effect.logWarning(
              `registration of ${Entry.format(entry)} failed, retrying at the next heartbeat: ${error.message}`
            )
      ),
      Effect.catchAllDefect((defect) =>
        Effect.logError(
          `registration of ${Entry.format(entry)} crashed, retrying at the next heartbeat`,
          Cause.die(defect)
        )
      )
    )
  )

/** Leaves: deregisters, logging the outcome. Never fails. */
export const leave = (entry: Entry.Entry, timeout: Duration.DurationInput = LEAVE_TIMEOUT) =>
  Effect.flatMap(Discovery, (discovery) =>
    discovery.deregister(entry).pipe(
      // Leaving runs in a finalizer, which is uninterruptible: without this a hung backend would block exit forever.
      Effect.interruptible,
      Effect.timeoutFail({
        duration: timeout,
        onTimeout: () => ({
          _tag: "Timeout" as const,
          message: `no answer within ${Duration.format(timeout)}`
        })
      }),
      Effect.tap(() => Effect.logInfo(`left: deregistered ${Entry.format(entry)}`)),
      Effect.catchAll((error) =>
        error._tag === "NotImplemented"
          ? Effect.logInfo(`leaving without deregistering: ${error.message}`)
          : Effect.logWarning(`could not deregister ${Entry.format(entry)}: ${error.message}`)
      )
    )
  )

/** Runs until interrupted; deregisters on the way out. Fails only when the backend cannot register at all. */
export const join = (
  entry: Entry.Entry,
  options: JoinOptions = {}
): Effect.Effect<never, NotImplemented, Discovery> =>
  Effect.gen(function* () {
    const heartbeat = Duration.decode(options.heartbeat ?? Duration.seconds(60))
    // A read-only backend fails its register at once, with its own message: no need to wait the delay first.
    if ((yield* Discovery).readOnly === true) yield* registerOnce(entry)
    const wait = yield* randomDelay(options.delay ?? Duration.zero)
    if (Duration.toMillis(wait) > 0) {
      yield* Effect.logInfo(`waiting ${GoDuration.format(wait)} before the first registration`)
      yield* Effect.sleep(wait)
    }
    return yield* registerOnce(entry).pipe(
      Effect.repeat(Schedule.spaced(heartbeat)),
      Effect.zipRight(Effect.never),
      Effect.onInterrupt(() => leave(entry))
    )
  })
