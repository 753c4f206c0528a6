/**
 * How the etcd3 client picks, skips and retries endpoints (its cockatiel-shaped
 * `faultHandling` hooks; only `execute` is used by etcd3).
 *
 * An isolated member (packets dropped, no RST) answers nothing: a request sent
 * to it waits for its deadline. So:
 * - **Attempts.** Each attempt gets part of the store's timeout (`attemptMillis`),
 *   and a transport failure, a missed deadline included, is retried on the next
 *   endpoint (etcd3's pool walks them in a shuffled order), all within the
 *   request's own bound.
 * - **Skipping.** An endpoint whose attempt failed at transport level is skipped
 *   for a while (1 s, doubling while it keeps failing, up to 30 s) as long as
 *   another endpoint is not skipped; its next attempt after that tells whether
 *   it is back, and a success clears it. With every endpoint failing nothing is
 *   skipped, so an etcd that comes back is used at once.
 * A request retried after a transport failure (a missed deadline, a member
 * killed after passing it on to the leader) may have been applied by the
 * attempt that failed. The create-or-read transaction tolerates that (see
 * `leases.ts`), and so does the group commit (its fence); a put or a delete
 * would misreport what it did on the retry ("updated" for the key it
 * created, 404 for the key it deleted), so those go through a client that
 * sends once (`Connection.onceClient`) and get the whole timeout for their
 * one attempt: a failing member costs them a `503` (outcome unknown), never
 * a wrong answer.
 */
import { type CallContext, type IOptions, isRecoverableError } from "etcd3"

type Policy = NonNullable<NonNullable<IOptions["faultHandling"]>["global"]>
type Run<T> = (context: { signal: AbortSignal }) => PromiseLike<T> | T

/** The signal etcd3 is handed (it never reads it): one for all calls, since making one per call shows in profiles. */
const unused = new AbortController().signal

/**
 * Thrown instead of trying a skipped endpoint. Not one of etcd3's recoverable errors on purpose: those make
 * its pool reset the endpoint's channel, and a skip is no news about the endpoint.
 */
export class EndpointSkipped extends Error {}

const FIRST_SKIP_MS = 1_000
const MAX_SKIP_MS = 30_000

/** A request's attempt on one endpoint gets this share of the store's timeout (at least 1 s). */
export const attemptMillis = (timeoutMs: number, endpoints: number): number =>
  endpoints <= 1 ? timeoutMs : Math.min(timeoutMs, Math.max(1_000, Math.floor(timeoutMs * 0.4)))

/**
 * Whether a call deletes keys or puts one outside a transaction: a retry of it would misreport what it did
 * (above). A delete in a transaction (`writes.ts` guards its deletes so) counts; the group commit's puts do
 * not: it tolerates a retry (its fence, `groupCommit.ts`) and reports only created or updated.
 */
const notRetried = (context: CallContext): boolean => {
  if (context.service !== "KV") return false
  if (context.method === "put" || context.method === "deleteRange") return true
  return context.method === "txn" && context.params.success?.some((op) => op.request_delete_range) === true
}

/** The gRPC deadline of one attempt: part of the timeout, or all of it for a put or a delete (above). */
export const attemptDeadline =
  (timeoutMs: number, endpoints: number) =>
  (context: CallContext): { deadline?: number } => {
    if (context.isStream) return {}
    return { deadline: Date.now() + (notRetried(context) ? timeoutMs : attemptMillis(timeoutMs, endpoints)) }
  }

const policy = <T>(execute: (fn: Run<T>) => Promise<T>): Policy =>
  ({ execute: (fn: Run<T>) => execute(fn) }) as unknown as Policy

/** Runs a request up to `attempts` times while it fails at transport level; etcd3 moves to the next endpoint. */
export const retrying = (attempts: number): Policy =>
  policy(async <T>(fn: Run<T>) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn({ signal: unused })
      } catch (error) {
        if (attempt >= attempts || !(error instanceof Error) || !isRecoverableError(error)) throw error
      }
    }
  })

interface Health {
  /** Skipped until then (ms since the epoch); 0 when healthy. */
  skipUntil: number
  /** The last skip's length, doubled by each failure in a row. */
  skipMs: number
}

/** The per-endpoint policies, sharing what each knows of the others. `now` is for tests. */
export const endpoints = (hosts: ReadonlyArray<string>, now: () => number = Date.now) => {
  const health = new Map<string, Health>(hosts.map((h) => [h, { skipUntil: 0, skipMs: 0 }]))
  const anotherUp = (host: string, at: number) => {
    for (const [h, s] of health) if (h !== host && s.skipUntil <= at) return true
    return false
  }
  const failed = (state: Health) => {
    state.skipMs = state.skipMs === 0 ? FIRST_SKIP_MS : Math.min(MAX_SKIP_MS, state.skipMs * 2)
    state.skipUntil = now() + state.skipMs
  }
  const of = (host: string): Policy => {
    const state = health.get(host) ?? { skipUntil: 0, skipMs: 0 }
    health.set(host, state)
    return policy(async <T>(fn: Run<T>) => {
      const at = now()
      if (state.skipUntil > at && anotherUp(host, at))
        throw new EndpointSkipped(
          `etcd endpoint ${host} skipped: it failed within the last ${state.skipMs} ms`
        )
      try {
        const result = await fn({ signal: unused })
        state.skipUntil = 0
        state.skipMs = 0
        return result
      } catch (error) {
        if (error instanceof Error && isRecoverableError(error)) failed(state)
        throw error
      }
    })
  }
  /** Whether `host` is being skipped now (for tests and logs). */
  const skipped = (host: string) => (health.get(host)?.skipUntil ?? 0) > now()
  return { of, skipped }
}
