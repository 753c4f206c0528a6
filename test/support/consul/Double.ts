/**
 * The Consul double itself: the HTTP(S) server and its lifecycle, routing to
 * the KV, session and transaction endpoints, and the hooks tests use to break it and look
 * inside.
 *
 * Test hooks: `stop`/`start` (restart on the same port, state kept), `reset`
 * (a fresh server's state, so indexes go backwards; wakes blocking queries
 * like Consul's snapshot restore), `reapTombstones`, `stall` (accept
 * requests, never answer), `fail` (answer everything as a leaderless or
 * rate-limiting Consul does).
 *
 * ACLs: with `aclToken`, a request must carry it in `X-Consul-Token` (or
 * `?token=`); without one it is refused 403 "Permission denied", with another
 * 403 "ACL not found". Every request's token is in `requests`.
 */
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse
} from "node:http"
import { createServer as createHttpsServer } from "node:https"
import type { Socket } from "node:net"
import { Effect, type Scope } from "effect"
import { type DoubleClock, systemClock } from "./Clock.js"
import { BlockingQueries, HttpError, send } from "./Http.js"
import { KvEndpoint } from "./Kv.js"
import { SessionEndpoint } from "./Session.js"
import { TxnEndpoint } from "./Txn.js"
import { ConsulState, type DoubleSession } from "./State.js"

export interface ConsulDoubleOptions {
  readonly clock?: DoubleClock
  /** Listen on this port (default: a free one). */
  readonly port?: number
  /** Consul invalidates a TTL session this many TTLs after its last renewal (default 2). */
  readonly ttlMultiplier?: number
  /** Default 10s, like Consul's `session_ttl_min`. */
  readonly sessionTtlMinMillis?: number
  /** The raft index of a fresh server (default 1, so the first write is 2; a real Consul's is far higher). */
  readonly initialIndex?: number
  /** Require this ACL token on every request (default: ACLs off, any token accepted). */
  readonly aclToken?: string
  /** Serve HTTPS with these PEM contents; with `ca`, require client certificates signed by it. */
  readonly tls?: { readonly cert: string; readonly key: string; readonly ca?: string }
}

export interface RequestRecord {
  readonly method: string
  readonly path: string
  readonly query: string
  /** `X-Consul-Token` (or `?token=`), when sent. */
  readonly token: string | undefined
}

/** What a Consul without a leader (500) or over its RPC rate limit (429) answers to everything. */
export const FAILURES = {
  "no-leader": { status: 500, body: "No cluster leader" },
  "rate-limited": { status: 429, body: "RPC rate limit exceeded" }
} as const

export class ConsulDouble {
  readonly clock: DoubleClock
  readonly requests: Array<RequestRecord> = []
  private readonly options: ConsulDoubleOptions
  private server: Server | undefined
  private readonly sockets = new Set<Socket>()
  private readonly held = new Set<ServerResponse>()
  private stalled = false
  private failure: keyof typeof FAILURES | undefined
  private portNumber = 0

  private readonly blocking: BlockingQueries
  private readonly state: ConsulState
  private readonly kv: KvEndpoint
  private readonly sessionEndpoint: SessionEndpoint
  private readonly txn: TxnEndpoint

  constructor(options: ConsulDoubleOptions = {}) {
    this.options = options
    this.clock = options.clock ?? systemClock
    this.blocking = new BlockingQueries(this.clock)
    this.state = new ConsulState(this.clock, options, () => this.blocking.wake(false))
    this.kv = new KvEndpoint(this.state)
    this.txn = new TxnEndpoint(this.state)
    this.sessionEndpoint = new SessionEndpoint(this.state, options, () => this.portNumber)
  }

  get port(): number {
    return this.portNumber
  }
  /** `127.0.0.1:<port>` */
  get address(): string {
    return `127.0.0.1:${this.portNumber}`
  }
  get url(): string {
    return `${this.options.tls ? "https" : "http"}://${this.address}`
  }

  // ---- lifecycle -------------------------------------------------------

  /** Listens (again) on the same port, or on `options.port`, or a free one. */
  start(): Promise<void> {
    const handler = (req: IncomingMessage, res: ServerResponse) => this.handle(req, res)
    const tls = this.options.tls
    const server: Server = tls
      ? (createHttpsServer(
          {
            cert: tls.cert,
            key: tls.key,
            ...(tls.ca ? { ca: tls.ca, requestCert: true, rejectUnauthorized: true } : {})
          },
          handler
        ) as unknown as Server)
      : createHttpServer(handler)
    // The raw TCP socket, also under TLS: destroying it drops the connection either way.
    server.on("connection", (socket: Socket) => {
      this.sockets.add(socket)
      socket.on("close", () => this.sockets.delete(socket))
    })
    this.server = server
    const port = this.portNumber || this.options.port || 0
    return new Promise((resolve, reject) => {
      server.once("error", reject)
      server.listen(port, "127.0.0.1", () => {
        server.off("error", reject)
        const address = server.address()
        this.portNumber = typeof address === "object" && address !== null ? address.port : port
        resolve()
      })
    })
  }

  /** Stops listening and drops every connection; the state is kept (a restart, not a wipe). */
  stop(): Promise<void> {
    const server = this.server
    this.server = undefined
    this.blocking.clear()
    this.held.clear()
    if (server === undefined) return Promise.resolve()
    return new Promise((resolve) => {
      server.close(() => resolve())
      for (const socket of this.sockets) socket.destroy()
      this.sockets.clear()
    })
  }

  /** Stops and cancels the session timers. */
  async close(): Promise<void> {
    await this.stop()
    this.state.cancelTimers()
  }

  /** Wipes the state, as a fresh server would have it; blocking queries return at once (Consul does so on a snapshot restore). */
  reset(): void {
    this.state.reset()
    this.blocking.wake(true)
  }

  /** Forgets tombstones, as Consul's reaper does after `tombstone_ttl`; a prefix's index may go backwards. */
  reapTombstones(): void {
    this.state.reapTombstones()
  }

  /** While stalled, requests are accepted and never answered. */
  stall(on: boolean): void {
    this.stalled = on
  }

  /** Until called again with `undefined`, every request gets this failure's answer. */
  fail(mode: keyof typeof FAILURES | undefined): void {
    this.failure = mode
  }

  // ---- inspection ------------------------------------------------------

  get(key: string): { value: string; session: string | undefined; modifyIndex: number } | undefined {
    const entry = this.state.kv.get(key)
    return (
      entry && { value: entry.value.toString("utf8"), session: entry.session, modifyIndex: entry.modifyIndex }
    )
  }
  keys(): Array<string> {
    return [...this.state.kv.keys()].sort()
  }
  sessions(): Array<DoubleSession> {
    return [...this.state.sessions.values()]
  }
  /** The raft index: every write that reached raft, failed transactions included. */
  get index(): number {
    return this.state.index
  }
  /** The KV table's index, what a read of the whole KV answers in `X-Consul-Index`. */
  get kvIndex(): number {
    return this.state.prefixIndex("")
  }
  /** Blocking queries waiting for a change. */
  get blocked(): number {
    return this.blocking.size
  }
  count(method: string, pathPrefix: string): number {
    return this.requests.filter((r) => r.method === method && r.path.startsWith(pathPrefix)).length
  }

  // ---- HTTP --------------------------------------------------------------

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? "/", "http://double")
    const header = req.headers["x-consul-token"]
    const token = (Array.isArray(header) ? header[0] : header) ?? url.searchParams.get("token") ?? undefined
    this.requests.push({ method: req.method ?? "", path: url.pathname, query: url.search, token })
    const chunks: Array<Buffer> = []
    req.on("data", (chunk: Buffer) => chunks.push(chunk))
    req.on("end", () => {
      if (this.stalled) {
        this.held.add(res)
        return
      }
      if (this.failure !== undefined) return send(res, FAILURES[this.failure])
      const acl = this.options.aclToken
      if (acl !== undefined && token !== acl)
        return send(res, { status: 403, body: token === undefined ? "Permission denied" : "ACL not found" })
      try {
        let path: string
        try {
          path = decodeURIComponent(url.pathname)
        } catch {
          throw new HttpError(400, "Invalid URL path encoding")
        }
        this.route(req.method ?? "GET", path, url.searchParams, Buffer.concat(chunks), res)
      } catch (error) {
        if (error instanceof HttpError) send(res, { status: error.status, body: error.body })
        else send(res, { status: 500, body: String(error) })
      }
    })
  }

  private route(
    method: string,
    path: string,
    params: URLSearchParams,
    body: Buffer,
    res: ServerResponse
  ): void {
    if (path.startsWith("/v1/kv/")) {
      const key = path.slice("/v1/kv/".length)
      if (key.startsWith("/")) throw new HttpError(400, "key must not begin with a '/'")
      switch (method) {
        case "GET":
          return this.blocking.answer(res, params, () => this.kv.read(key, params))
        case "PUT":
          return send(res, this.kv.put(key, params, body))
        case "DELETE":
          return send(res, this.kv.delete(key, params))
        default:
          throw new HttpError(405, `method ${method} not allowed`)
      }
    }
    if (path === "/v1/txn") {
      if (method !== "PUT") throw new HttpError(405, `method ${method} not allowed`)
      return send(res, this.txn.apply(body))
    }
    const session = /^\/v1\/session\/(create|renew|destroy|info)(?:\/(.*))?$/.exec(path)
    if (session !== null) {
      const [, op, id = ""] = session
      return send(res, this.sessionEndpoint.handle(method, op, id, body))
    }
    send(res, { status: 404, body: "404 page not found" })
  }
}

/** Starts a double on 127.0.0.1. */
export const startConsulDouble = async (options: ConsulDoubleOptions = {}): Promise<ConsulDouble> => {
  const double = new ConsulDouble(options)
  await double.start()
  return double
}

/** A double for the life of a scope. */
export const consulDouble = (
  options: ConsulDoubleOptions = {}
): Effect.Effect<ConsulDouble, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() => startConsulDouble(options)),
    (double) => Effect.promise(() => double.close())
  )
