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
import { Data, Duration, Effect, FiberRef, LogLevel, Runtime, Schedule, type Scope } from "effect"
import * as Api from "./Api.js"
import type { Answer } from "./Api.js"
import * as Bounds from "./Bounds.js"
import type { Handler } from "./Handler.js"
import * as Respond from "./Respond.js"
import type { RunFork, Send } from "./Respond.js"

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

/** `--max-connections`: a connection past it gets one 503 (to its first request) and is closed. */
const connectionGate = (handler: Handler, runFork: RunFork, send: Send) => {
  const maxConnections = handler.config.maxConnections
  let open = 0
  const overLimit = new WeakSet<object>()
  handler.metrics.connected(() => open)
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
  /** Whether the request came on a connection past the bound; if so, it is answered here. */
  const refused = (req: Http.IncomingMessage, res: Http.ServerResponse, started: number): boolean => {
    if (!overLimit.has(req.socket)) return false
    handler.metrics.boundRefused("connections")
    runFork(handler.failures.report("bound_connections", `${maxConnections} open connections`))
    send(req, res, tooMany(), started, true)
    return true
  }
  return { onConnection, refused }
}

/** CONNECT and protocol upgrades leave Node's HTTP parser: answer them by hand, or they would get silence. */
const refuseRaw =
  (handler: Handler, status: number, reason: string, message: string) =>
  (_req: Http.IncomingMessage, socket: Duplex) => {
    handler.metrics.observe("unknown", status, 0)
    const body = `${message}\n`
    socket.on("error", () => {})
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\nContent-Type: ${Api.TEXT}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `Connection: close\r\n\r\n${body}`
    )
  }

/** An http or https server, with the connection gate, the raw refusals and the request time limits. */
const createServer = (
  handler: Handler,
  tls: TlsOptions | undefined,
  onRequest: Http.RequestListener,
  onConnection: (socket: Net.Socket) => void
): Http.Server => {
  const maxConnections = handler.config.maxConnections
  const server: Http.Server =
    tls === undefined
      ? Http.createServer(onRequest)
      : Https.createServer(
          {
            cert: tls.cert,
            key: tls.key,
            ...(tls.ca === undefined ? {} : { ca: tls.ca }),
            requestCert: tls.verify === true,
            rejectUnauthorized: tls.verify === true
          },
          onRequest
        )
  server.on(tls === undefined ? "connection" : "secureConnection", onConnection)
  // Past the bound and a margin for the 503s, the kernel's connections are dropped unanswered.
  server.maxConnections = maxConnections + Math.max(64, Math.ceil(maxConnections / 10))
  server.on(
    "connect",
    refuseRaw(handler, 405, "Method Not Allowed", "CONNECT is not supported: this is not a proxy")
  )
  server.on(
    "upgrade",
    refuseRaw(
      handler,
      400,
      "Bad Request",
      "protocol upgrades are not supported; send plain HTTP/1.1 requests"
    )
  )
  // A whole request (headers and body) must arrive within this; long-polls wait on our side, not theirs.
  server.requestTimeout = 30_000
  server.headersTimeout = 20_000
  return server
}

/** Stops accepting, answers long-polls now, then waits (up to the grace) for requests in flight. */
const close = (server: Http.Server, drain: Effect.Effect<void>) =>
  Effect.gen(function* () {
    yield* drain
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

/** Listens, and closes gracefully with the scope: the port it got. */
const listenScoped = (
  server: Http.Server,
  address: { readonly host: string; readonly port: number; readonly display: string },
  drain: Effect.Effect<void>,
  runFork: RunFork
): Effect.Effect<number, ListenError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<number, ListenError>((resume) => {
      const onError = (error: NodeJS.ErrnoException) =>
        resume(
          Effect.fail(new ListenError({ address: address.display, reason: explain(error), cause: error }))
        )
      server.once("error", onError)
      server.listen({ host: address.host, port: address.port }, () => {
        server.removeListener("error", onError)
        server.on("error", (error) => runFork(Effect.logError(`server error: ${error.message}`)))
        resume(Effect.succeed((server.address() as AddressInfo).port))
      })
    }),
    () => close(server, drain)
  )

export const serve = (
  handler: Handler,
  options: { readonly host: string; readonly port: number; readonly tls?: TlsOptions | undefined }
): Effect.Effect<Bound, ListenError, Scope.Scope> =>
  Effect.gen(function* () {
    const host =
      options.host.startsWith("[") && options.host.endsWith("]") ? options.host.slice(1, -1) : options.host
    const runFork: RunFork = Runtime.runFork(yield* Effect.runtime<never>())
    const minimum = yield* FiberRef.get(FiberRef.currentMinimumLogLevel)
    const send = Respond.sender(handler, runFork, LogLevel.lessThanEqual(minimum, LogLevel.Debug))
    const read = Respond.reader(handler.config.maxBody, send, Respond.dispatcher(handler, runFork, send))
    const gate = connectionGate(handler, runFork, send)
    const onRequest = (req: Http.IncomingMessage, res: Http.ServerResponse) => {
      const started = performance.now()
      if (!gate.refused(req, res, started)) read(req, res, started)
    }
    const server = createServer(handler, options.tls, onRequest, gate.onConnection)
    const display = `${hostForUrl(host)}:${options.port}`
    const port = yield* listenScoped(server, { host, port: options.port, display }, handler.drain, runFork)

    const scheme = options.tls === undefined ? "http" : "https"
    // A wildcard address is reachable on loopback; print that, clients elsewhere use the machine's name.
    const reachable = host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "::1" : host
    const origin = `${scheme}://${hostForUrl(reachable)}:${port}`
    return { url: `${origin}/v1`, origin, host, port }
  })
