/**
 * The Consul double's wire: replies with Consul's headers, errors as status
 * and text, Go durations, and blocking queries (Consul's blockingQuery loop).
 *
 * Blocking queries: `?index=N&wait=D` (Go duration, default 5m, at most 10m)
 * return once the index is above N, or when the wait ends (with an index that
 * may be ≤ N, even below it). Consul adds up to wait/16 of random jitter; the
 * double does not.
 */
import type { ServerResponse } from "node:http"
import * as GoDuration from "../../../src/GoDuration.js"
import { Either } from "effect"
import type { DoubleClock } from "./Clock.js"

/** Thrown by a handler; answered as `status` with `body` as text. */
export class HttpError {
  constructor(
    readonly status: number,
    readonly body: string
  ) {}
}

export interface Reply {
  readonly status: number
  readonly body: string
  /** A read's index: with it come the read headers (`X-Consul-Index`, `-Knownleader`, `-Lastcontact`, `-Query-Backend`). */
  readonly index?: number
  /** A read without an index (a read-only transaction): `X-Consul-Knownleader` and `-Lastcontact` only. */
  readonly leaderMeta?: boolean
  /** JSON whatever the status (a transaction's 409 is). */
  readonly json?: boolean
}

/** Go's `time.Duration` `%d`: nanoseconds. */
export const nanos = (millis: number) => Math.round(millis * 1e6)

export const parseGoMillis = (text: string): number | undefined =>
  Either.getOrUndefined(GoDuration.parseMillis(text))

/** What a Consul agent adds to every answer (ACLs off, as on a dev agent). */
const ALWAYS = { "X-Consul-Default-Acl-Policy": "allow" }

export const send = (res: ServerResponse, reply: Reply): void => {
  if (res.writableEnded || res.destroyed) return
  const headers: Record<string, string> = { ...ALWAYS }
  // Consul's 404 on a read has an empty body and no Content-Type.
  if (reply.body !== "")
    headers["Content-Type"] =
      reply.status === 200 || reply.json === true ? "application/json" : "text/plain; charset=utf-8"
  if (reply.index !== undefined) headers["X-Consul-Index"] = String(reply.index)
  if (reply.index !== undefined || reply.leaderMeta === true) {
    headers["X-Consul-Knownleader"] = "true"
    headers["X-Consul-Lastcontact"] = "0"
  }
  if (reply.index !== undefined) headers["X-Consul-Query-Backend"] = "blocking-query"
  // Go's net/http sets a length on an answer that fits its 2 KB buffer and chunks a larger one.
  const length = Buffer.byteLength(reply.body)
  if (length < 2048) headers["Content-Length"] = String(length)
  res.writeHead(reply.status, headers)
  res.end(reply.body)
}

const LITERALS = ["null", "true", "false"]

/**
 * Go's encoding/json error for a body `JSON.parse` refused, for the common cases (a broken
 * literal, a bad first character); anything else keeps JavaScript's message.
 */
export const goJsonError = (text: string, jsError: string): string => {
  const start = text.search(/\S/)
  if (start < 0) return "EOF"
  const first = text[start]!
  const literal = LITERALS.find((l) => l[0] === first)
  if (literal !== undefined) {
    for (let i = 1; i < literal.length; i++) {
      const c = text[start + i]
      if (c === undefined) return "unexpected EOF"
      if (c !== literal[i])
        return `invalid character '${c}' in literal ${literal} (expecting '${literal[i]}')`
    }
  }
  if (!/[[{"\-0-9ntf]/.test(first)) return `invalid character '${first}' looking for beginning of value`
  return jsError
}

const DEFAULT_WAIT = 5 * 60_000
const MAX_WAIT = 10 * 60_000

interface Waiter {
  /** Re-runs the query; answers and returns true if it may return now. */
  readonly recheck: (force: boolean) => boolean
}

/** The blocking queries in flight, woken by every change to the state. */
export class BlockingQueries {
  private readonly waiters = new Set<Waiter>()

  constructor(private readonly clock: DoubleClock) {}

  get size(): number {
    return this.waiters.size
  }

  /** Forgets them unanswered (their connections are being dropped). */
  clear(): void {
    this.waiters.clear()
  }

  /** Re-runs each; with `force`, each answers even if its index has not moved. */
  wake(force: boolean): void {
    for (const waiter of [...this.waiters]) waiter.recheck(force)
  }

  /** Answers `read()` now, or once its index passes `?index=` or the wait ends. */
  answer(res: ServerResponse, params: URLSearchParams, read: () => Reply): void {
    let minIndex = 0
    if (params.has("index")) {
      minIndex = Number(params.get("index"))
      if (!Number.isSafeInteger(minIndex) || minIndex < 0) throw new HttpError(400, "Invalid index")
    }
    let wait = DEFAULT_WAIT
    if (params.has("wait")) {
      const parsed = parseGoMillis(params.get("wait") ?? "")
      if (parsed === undefined || parsed < 0) throw new HttpError(400, "Invalid wait time")
      wait = Math.min(parsed, MAX_WAIT)
    }
    const first = read()
    if (minIndex === 0 || first.index! > minIndex) return send(res, first)
    let cancelTimer = () => {}
    const waiter: Waiter = {
      recheck: (force) => {
        const reply = read()
        if (!force && reply.index! <= minIndex) return false
        this.waiters.delete(waiter)
        cancelTimer()
        send(res, reply)
        return true
      }
    }
    this.waiters.add(waiter)
    cancelTimer = this.clock.setTimer(this.clock.now() + wait, () => waiter.recheck(true))
    res.on("close", () => {
      this.waiters.delete(waiter)
      cancelTimer()
    })
  }
}
