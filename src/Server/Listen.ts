/**
 * The socket side of the discovery server: plain `node:http` / `node:https`
 * calling the Effect handler of `Server.ts` through a prebuilt `Runtime`.
 *
 * Why not @effect/platform's HttpServer: measured here, it reaches about a
 * fifth of raw `node:http`; one fiber per request on a captured runtime
 * keeps most of raw speed while the handlers stay Effect programs.
 */
import * as Http from "node:http"
import * as Https from "node:https"
import type * as Net from "node:net"
import type { AddressInfo } from "node:net"
import type { Duplex } from "node:stream"
import {
  Cause,
  Data,
  Duration,
  Effect,
  type Exit,
  FiberId,
  FiberRef,
  LogLevel,
  Runtime,
  Schedule,
  type Scope
} from "effect"
import * as Api from "./Api.js"
import * as Bounds from "./Bounds.js"
import type { Answer } from "./Api.js"
import type { Handler } from "./Handler.js"

export interface TlsOptions {
  /** PEM certificate chain. */
  readonly cert: string | Buffer
  /** PEM private key. */
  readonly key: string | Buffer
  /** PEM CA bundle that client certificates must chain to (with `verify`). */
  readonly ca?: string | Buffer | undefined
  /** Require and verify client certificates (mutual TLS). */
  readonly verify?: boolean | undefined
}

export class ListenError extends Data.TaggedError("ListenError")<{
  readonly address: string
  readonly reason: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `cannot listen on ${this.address}: ${this.reason}`
  }
}

export interface Bound {
  readonly url: string
  readonly origin: string
  readonly host: string
  readonly port: number
}

/** `::1` → `[::1]`, for URLs and messages. */
export const hostForUrl = (host: string): string => (host.includes(":") ? `[${host}]` : host)

/** How long shutdown waits for in-flight requests before cutting connections. */
const SHUTDOWN_GRACE = Duration.seconds(10)

/** Why a listen failed, in words (also for `swarm serve`'s check before it opens anything). */
export const explain = (error: NodeJS.ErrnoException): string => {
  switch (error.code) {
    case "EADDRINUSE":
      return "the address is already in use (is another swarm serve running? choose another --listen port)"
    case "EACCES":
      return "permission denied (ports below 1024 need privileges; choose a port such as 8375)"
    case "EADDRNOTAVAIL":
      return "this machine has no such address (use 127.0.0.1, 0.0.0.0, ::1, :: or one of its own addresses)"
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "the host name does not resolve"
    default:
      return error.message
  }
}

export const serve = (
  handler: Handler,
  options: { readonly host: string; readonly port: number; readonly tls?: TlsOptions | undefined }
): Effect.Effect<Bound, ListenError, Scope.Scope> =>
  Effect.gen(function* () {
    const host =
      options.host.startsWith("[") && options.host.endsWith("]") ? options.host.slice(1, -1) : options.host
    const display = `${hostForUrl(host)}:${options.port}`
    const runtime = yield* Effect.runtime<never>()
    const runFork = Runtime.runFork(runtime)
    const minimum = yield* FiberRef.get(FiberRef.currentMinimumLogLevel)
    const debug = LogLevel.lessThanEqual(minimum, LogLevel.Debug)
    const maxBody = handler.config.maxBody
    const metrics = handler.metrics

    const send = (
      req: Http.IncomingMessage,
      res: Http.ServerResponse,
      answer: Answer,
      started: number,
      close = false
    ) => {
      const seconds = (performance.now() - started) / 1000
      metrics.observe(answer.route, answer.status, seconds)
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
    const runNow = <A>(effect: Effect.Effect<A>, k: (a: A) => void) => {
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

    const dispatch = (req: Http.IncomingMessage, res: Http.ServerResponse, body: string, started: number) => {
      const finish = (exit: Exit.Exit<Answer>) => {
        if (exit._tag === "Success") {
          const answer = exit.value
          if (answer.pending !== true) return send(req, res, answer, started)
          // An early write: answer once it is committed (with the whole turn's writes).
          return handler.whenDurable((error) =>
            error === undefined
              ? send(req, res, answer, started)
              : runNow(handler.storeProblem(answer.route, error), (problem) =>
                  send(req, res, problem, started)
                )
          )
        }
        if (res.destroyed) return
        runFork(handler.failures.report("internal", `request failed: ${Cause.pretty(exit.cause)}`))
        send(
          req,
          res,
          { ...Api.error(500, "internal error; the server logged it"), route: "unknown" },
          started
        )
      }
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
      if (done !== null) return finish(done)
      // A client that hangs up (a long-poll, say) must not leave its fiber waiting.
      const onClose = () => {
        if (!res.writableEnded) fiber.unsafeInterruptAsFork(FiberId.none)
      }
      res.once("close", onClose)
      fiber.addObserver((exit) => {
        res.removeListener("close", onClose)
        finish(exit)
      })
    }

    const tooLarge = (): Answer => ({
      ...Api.error(413, `the request body is larger than ${maxBody} bytes; a registration is one host:port`),
      route: "unknown"
    })

    // --max-connections: a connection past it gets one 503 (to its first request) and is closed.
    const maxConnections = handler.config.maxConnections
    let open = 0
    const overLimit = new WeakSet<object>()
    metrics.connected(() => open)
    const onConnection = (socket: Net.Socket) => {
      if (open >= maxConnections) {
        overLimit.add(socket)
        // One that sends nothing is dropped soon: it must not hold a descriptor for long.
        socket.setTimeout(2_000, () => socket.destroy())
        return
      }
      open++
      socket.once("close", () => open--)
    }
    const tooMany = (): Answer => ({
      ...Bounds.refusal(
        "connections",
        handler.config,
        1,
        `the server holds ${maxConnections} open connections, as many as it may`
      ),
      route: "unknown"
    })

    const onRequest = (req: Http.IncomingMessage, res: Http.ServerResponse) => {
      const started = performance.now()
      if (overLimit.has(req.socket)) {
        metrics.boundRefused("connections")
        runFork(handler.failures.report("bound_connections", `${maxConnections} open connections`))
        return send(req, res, tooMany(), started, true)
      }
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

    const server: Http.Server =
      options.tls === undefined
        ? Http.createServer(onRequest)
        : Https.createServer(
            {
              cert: options.tls.cert,
              key: options.tls.key,
              ...(options.tls.ca === undefined ? {} : { ca: options.tls.ca }),
              requestCert: options.tls.verify === true,
              rejectUnauthorized: options.tls.verify === true
            },
            onRequest
          )
    server.on(options.tls === undefined ? "connection" : "secureConnection", onConnection)
    // Past the bound and a margin for the 503s, the kernel's connections are dropped unanswered.
    server.maxConnections = maxConnections + Math.max(64, Math.ceil(maxConnections / 10))
    // CONNECT and protocol upgrades leave Node's HTTP parser: answer them by hand, or they would get silence.
    const refuseRaw =
      (status: number, reason: string, message: string) => (_req: Http.IncomingMessage, socket: Duplex) => {
        metrics.observe("unknown", status, 0)
        const body = `${message}\n`
        socket.on("error", () => {})
        socket.end(
          `HTTP/1.1 ${status} ${reason}\r\nContent-Type: ${Api.TEXT}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
            `Connection: close\r\n\r\n${body}`
        )
      }
    server.on(
      "connect",
      refuseRaw(405, "Method Not Allowed", "CONNECT is not supported: this is not a proxy")
    )
    server.on(
      "upgrade",
      refuseRaw(400, "Bad Request", "protocol upgrades are not supported; send plain HTTP/1.1 requests")
    )
    // A whole request (headers and body) must arrive within this; long-polls wait on our side, not theirs.
    server.requestTimeout = 30_000
    server.headersTimeout = 20_000

    const port = yield* Effect.acquireRelease(
      Effect.async<number, ListenError>((resume) => {
        const onError = (error: NodeJS.ErrnoException) =>
          resume(Effect.fail(new ListenError({ address: display, reason: explain(error), cause: error })))
        server.once("error", onError)
        server.listen({ host, port: options.port }, () => {
          server.removeListener("error", onError)
          server.on("error", (error) => runFork(Effect.logError(`server error: ${error.message}`)))
          resume(Effect.succeed((server.address() as AddressInfo).port))
        })
      }),
      () =>
        Effect.gen(function* () {
          // Long-polls answer now with the current state; then wait for in-flight requests.
          yield* handler.drain
          const closed = Effect.async<void>((resume) => {
            server.close(() => resume(Effect.void))
          })
          // Keep-alive connections go idle after their last answer: close them as they do.
          // (Finalizers run uninterruptibly: the loop must opt back in, or the race could never end it.)
          const closeIdle = Effect.sync(() => server.closeIdleConnections()).pipe(
            Effect.repeat(Schedule.spaced(Duration.millis(50))),
            Effect.zipRight(Effect.never),
            Effect.interruptible
          )
          yield* Effect.raceFirst(closed, closeIdle).pipe(
            Effect.timeout(SHUTDOWN_GRACE),
            Effect.catchAll(() => Effect.sync(() => server.closeAllConnections()))
          )
        })
    )

    const scheme = options.tls === undefined ? "http" : "https"
    // A wildcard address is reachable on loopback; print that, clients elsewhere use the machine's name.
    const reachable = host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "::1" : host
    const origin = `${scheme}://${hostForUrl(reachable)}:${port}`
    return { url: `${origin}/v1`, origin, host, port }
  })
