/**
 * Server-side failures (every 5xx): logged for the operator with their cause,
 * counted for `/metrics`, and answered to the client without internals.
 *
 * A full disk fails every write: one log line per cause per `interval`
 * (default 10 s), the next one saying how many were folded into it, so the
 * log stays readable and the disk that is already full is not filled faster.
 * Bodies name the kind of failure only; a store's detail (file paths, etcd
 * endpoints) goes to the log.
 */
import { Clock, Duration, Effect } from "effect"
import type { KvError } from "../KvStore.js"
import * as Api from "./Api.js"

/** What went wrong, as a metric label: `store_unavailable`, `internal`, `bound_connections`… */
export type Cause = string

export interface Failures {
  /** Logs (at most once per cause and interval) and counts one 5xx. */
  readonly report: (cause: Cause, detail: string) => Effect.Effect<void>
  /** 5xx answers by cause, since start. */
  readonly counts: () => ReadonlyMap<Cause, number>
}

export const DEFAULT_INTERVAL = Duration.seconds(10)

export const make = (options: { readonly interval?: Duration.DurationInput | undefined } = {}): Failures => {
  const interval = Duration.toMillis(Duration.decode(options.interval ?? DEFAULT_INTERVAL))
  const counts = new Map<Cause, number>()
  /** Per cause: when it was last logged, and how many came since. */
  const logged = new Map<Cause, { at: number; folded: number }>()

  const report = (cause: Cause, detail: string) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      counts.set(cause, (counts.get(cause) ?? 0) + 1)
      const last = logged.get(cause)
      if (last !== undefined && now - last.at < interval) {
        last.folded++
        return Effect.void
      }
      const folded = last?.folded ?? 0
      logged.set(cause, { at: now, folded: 0 })
      const more =
        folded === 0 ? "" : ` (and ${folded} more like it since the last such line, not logged one by one)`
      return Effect.logError(`answered 5xx: ${cause}: ${detail}${more}`)
    })

  return { report, counts: () => counts }
}

/** The metric label of a store failure. */
export const storeCause = (error: KvError): Cause => `store_${error.reason.toLowerCase()}`

/**
 * The client's answer to a store failure: what kind, and what to do, never
 * the store's own message (it holds file paths and host names).
 */
export const storeAnswer = (error: KvError): Api.ApiResponse =>
  Api.error(
    503,
    error.reason === "Timeout"
      ? "the store did not answer in time; try again later (the server logged the cause)"
      : "the store is unavailable; try again later (the server logged the cause)",
    { "Retry-After": "1" }
  )
