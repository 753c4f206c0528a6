/**
 * One HTTP request through the handler, on `node:http`'s own objects: the body read within
 * `--max-body`, the handler run on a fiber that usually finishes before `runFork` returns, the
 * answer written (held until durable for an early write), and the request counted and logged.
 */
import type * as Http from "node:http"
import { Cause, Effect, type Exit, type Fiber, FiberId } from "effect"
import * as Api from "./Api.js"
import type { Answer } from "./Api.js"
import type { Handler } from "./Handler.js"

export type RunFork = <A, E>(effect: Effect.Effect<A, E>) => Fiber.RuntimeFiber<A, E>

export type Send = (
  req: Http.IncomingMessage,
  res: Http.ServerResponse,
  answer: Answer,
  started: number,
  close?: boolean
) => void

/** Writes an answer (unless the client is gone), counts it, and logs it at debug level. */
export const sender =
  (handler: Handler, runFork: RunFork, debug: boolean): Send =>
  (req, res, answer, started, close = false) => {
    const seconds = (performance.now() - started) / 1000
    handler.metrics.observe(answer.route, answer.status, seconds)
    if (debug) {
      // One logfmt-style line per request; the token only ever appears redacted.
      const cluster = answer.cluster === undefined ? "" : ` cluster=${answer.cluster}`
      const ms = Math.round(seconds * 100_000) / 100
      runFork(
        Effect.logDebug(
          `request method=${req.method} route=${answer.route}${cluster} status=${answer.status} ms=${ms}`
        )
      )
    }
    if (res.destroyed || res.writableEnded) return
    const body = answer.encoded ?? answer.body
    const headers: Http.OutgoingHttpHeaders = {
      "content-type": answer.contentType,
      "content-length": typeof body === "string" ? Buffer.byteLength(body) : body.length,
      ...answer.headers
    }
    if (close) headers["connection"] = "close"
    res.writeHead(answer.status, headers)
    res.end(body)
  }

/** Runs a (usually synchronous) effect and hands its value on, without waiting for a tick. */
const runNow = <A>(runFork: RunFork, effect: Effect.Effect<A>, k: (a: A) => void) => {
  const fiber = runFork(effect)
  const done = fiber.unsafePoll()
  if (done !== null) {
    if (done._tag === "Success") k(done.value)
    return
  }
  fiber.addObserver((exit) => {
    if (exit._tag === "Success") k(exit.value)
  })
}

export type Dispatch = (
  req: Http.IncomingMessage,
  res: Http.ServerResponse,
  body: string,
  started: number
) => void

/**
 * Runs queued sends together once this turn of the event loop has run its I/O callbacks. Measured
 * (`bench/server.bench.mjs`, 32 connections): answering a refresh from within the request's own `end`
 * event ran about a fifth slower than answering at `setImmediate`, most of it in the socket writes;
 * the durable path (SQLite) already answered after its commit, at the end of the turn.
 */
const endOfTurn = (): ((f: () => void) => void) => {
  let queue: Array<() => void> = []
  const flush = () => {
    const due = queue
    queue = []
    for (const f of due) f()
  }
  return (f) => {
    if (queue.push(f) === 1) setImmediate(flush)
  }
}

/** Answers a request whose body has arrived. */
export const dispatcher = (handler: Handler, runFork: RunFork, send: Send): Dispatch => {
  const later = endOfTurn()
  const finish =
    (req: Http.IncomingMessage, res: Http.ServerResponse, started: number) => (exit: Exit.Exit<Answer>) => {
      if (exit._tag === "Success") {
        const answer = exit.value
        if (answer.pending !== true) return later(() => send(req, res, answer, started))
        // An early write: answer once it is committed (with the whole turn's writes).
        return handler.whenDurable((error) =>
          error === undefined
            ? send(req, res, answer, started)
            : runNow(runFork, handler.storeProblem(answer.route, error), (problem) =>
                send(req, res, problem, started)
              )
        )
      }
      if (res.destroyed) return
      runFork(handler.failures.report("internal", `request failed: ${Cause.pretty(exit.cause)}`))
      send(req, res, { ...Api.error(500, "internal error; the server logged it"), route: "unknown" }, started)
    }
  return (req, res, body, started) => {
    const client = req.socket.remoteAddress ?? ""
    const url = req.url ?? "/"
    if (req.method === "GET" && url.includes("index=")) {
      // A long-poll joining waiters already there: no fiber, the fan-out answers it directly.
      const cancel = handler.tryLongPoll(url, client, (answer) => send(req, res, answer, started))
      if (cancel !== undefined) {
        res.once("close", cancel)
        return
      }
    }
    // Fibers start synchronously: most requests are answered before runFork returns.
    const fiber = runFork(
      handler.handleEarly(req.method ?? "GET", url, body, req.headers.authorization, client)
    )
    const done = fiber.unsafePoll()
    if (done !== null) return finish(req, res, started)(done)
    // A client that hangs up (a long-poll, say) must not leave its fiber waiting.
    const onClose = () => {
      if (!res.writableEnded) fiber.unsafeInterruptAsFork(FiberId.none)
    }
    res.once("close", onClose)
    fiber.addObserver((exit) => {
      res.removeListener("close", onClose)
      finish(req, res, started)(exit)
    })
  }
}

/**
 * Reads the body within `maxBody` bytes and dispatches the request; a larger one gets 413 at once,
 * and its connection is closed.
 */
export const reader =
  (maxBody: number, send: Send, dispatch: Dispatch) =>
  (req: Http.IncomingMessage, res: Http.ServerResponse, started: number) => {
    const tooLarge = (): Answer => ({
      ...Api.error(413, `the request body is larger than ${maxBody} bytes; a registration is one host:port`),
      route: "unknown"
    })
    const length = req.headers["content-length"]
    if (length === undefined && req.headers["transfer-encoding"] === undefined) {
      // No body: Node discards anything unread once the answer is sent.
      return dispatch(req, res, "", started)
    }
    if (length !== undefined && Number(length) > maxBody) {
      // Answer at once and close: reading megabytes just to refuse them helps nobody.
      return send(req, res, tooLarge(), started, true)
    }
    const chunks: Array<Buffer> = []
    let size = 0
    let refused = false
    req.on("data", (chunk: Buffer) => {
      if (refused) return
      size += chunk.length
      if (size > maxBody) {
        refused = true
        chunks.length = 0
        send(req, res, tooLarge(), started, true)
        return
      }
      chunks.push(chunk)
    })
    req.on("end", () => {
      if (!refused)
        dispatch(
          req,
          res,
          chunks.length === 1 ? chunks[0]!.toString("utf8") : Buffer.concat(chunks).toString("utf8"),
          started
        )
    })
    req.on("error", () => {
      // The client went away mid-body; there is nobody to answer.
    })
  }
