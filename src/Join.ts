/**
 * `join`: wait a random time in `[0, delay)`, register, then register again
 * every heartbeat. A failed registration is logged and retried at the next
 * heartbeat; it never ends the loop, except when retrying cannot help: a
 * backend that cannot register (`NotImplemented`) or, unless
 * `retryForbidden` is set, one that refuses this client (`Forbidden`, e.g. a
 * read-only token). Leaving
 * (interruption, or closing the scope) deregisters where the backend can.
 *
 * The heartbeat is the Discovery layer's own unless `join` is given one, so
 * the TTL the layer registers with always outlives the gap between two
 * registrations.
 */
import { Cause, Duration, Effect, Random, Schedule } from "effect"
import { DEFAULT_HEARTBEAT, Discovery, type Forbidden, type NotImplemented } from "./Discovery.js"
import * as Entry from "./Entry.js"
import * as GoDuration from "./GoDuration.js"

export interface JoinOptions {
  /** Default: the Discovery layer's heartbeat (60s for a service that does not say). */
  readonly heartbeat?: Duration.DurationInput
  /** Default 0: register at once. */
  readonly delay?: Duration.DurationInput
  /**
   * Log a refusal (`Forbidden`) and try again at the next heartbeat, as Swarm classic's `join` did,
   * instead of failing. Default false. The `swarm join` CLI sets it.
   */
  readonly retryForbidden?: boolean
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

/** The failures `join` does not retry. */
export type JoinError = NotImplemented | Forbidden | Entry.InvalidEntry

/**
 * Registers once. A backend that can never register (`NotImplemented`), a
 * refusal (`Forbidden`, unless `retryForbidden`) and a bad entry fail at
 * once; any other failure is logged and the loop carries on.
 */
export const registerOnce = (
  entry: Entry.Entry,
  retryForbidden = false
): Effect.Effect<void, JoinError, Discovery> =>
  Effect.flatMap(Discovery, (discovery) =>
    discovery.register(entry).pipe(
      Effect.tap(() => Effect.logDebug(`registered ${Entry.format(entry)}`)),
      Effect.catchAll((error) =>
        error._tag === "NotImplemented" ||
        (error._tag === "Forbidden" && !retryForbidden) ||
        error._tag === "InvalidEntry"
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

/** Runs until interrupted; deregisters on the way out. Fails only when registering cannot succeed (`JoinError`). */
export const join = (
  entry: Entry.Entry,
  options: JoinOptions = {}
): Effect.Effect<never, JoinError, Discovery> =>
  Effect.gen(function* () {
    const discovery = yield* Discovery
    const heartbeat = Duration.decode(options.heartbeat ?? discovery.options?.heartbeat ?? DEFAULT_HEARTBEAT)
    // A bad entry, or a read-only backend, fails its register at once, with its own message: no need to wait the delay first.
    yield* Entry.validate(entry)
    if (discovery.readOnly === true) yield* registerOnce(entry)
    const wait = yield* randomDelay(options.delay ?? Duration.zero)
    if (Duration.toMillis(wait) > 0) {
      yield* Effect.logInfo(`waiting ${GoDuration.format(wait)} before the first registration`)
      yield* Effect.sleep(wait)
    }
    return yield* registerOnce(entry, options.retryForbidden === true).pipe(
      Effect.repeat(Schedule.spaced(heartbeat)),
      Effect.zipRight(Effect.never),
      Effect.onInterrupt(() => leave(entry))
    )
  })
