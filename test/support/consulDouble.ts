/**
 * An in-process double of the part of Consul's HTTP API that the Consul
 * `KvStore` uses, for tests (Debian ships no Consul server).
 *
 * Faithful where the store depends on it, after Consul's own sources
 * (agent/kvs_endpoint.go, agent/session_endpoint.go, the state store and the
 * blocking-query loop):
 * - KV: `GET` (single key, `?recurse`, `?keys`), `PUT` (`?acquire=`, `?release=`,
 *   `?cas=`, `?flags=`), `DELETE` (`?recurse`, `?cas=`). Values are base64 in
 *   the JSON; a missing key or empty prefix is a 404 that still carries
 *   `X-Consul-Index`.
 * - Indexes: one raft index grows on every write (sessions included). A KV
 *   read's `X-Consul-Index` is the highest `ModifyIndex` or tombstone under
 *   the prefix, or the whole KV table's index when there is none, and never 0.
 * - Blocking queries: `?index=N&wait=D` (Go duration, default 5m, at most 10m)
 *   return once the index is above N, or when the wait ends (with an index
 *   that may be ≤ N, even below it). Consul adds up to wait/16 of random
 *   jitter; the double does not.
 * - Sessions: `create` (TTL within [10s, 24h], `Behavior` release|delete,
 *   `LockDelay` with Consul's "small numbers are seconds" rule), `renew` (404
 *   for an unknown session), `destroy`, `info`. A TTL session is invalidated
 *   `ttlMultiplier` × TTL (2, like Consul's leader) after its last renewal;
 *   invalidation deletes (or releases) the keys it holds and applies the lock
 *   delay to them.
 *
 * Time comes from an injectable clock (`ManualClock` lets tests drive session
 * expiry and the end of blocking waits). Test hooks: `stop`/`start` (restart
 * on the same port, state kept), `reset` (a fresh server's state, so indexes
 * go backwards; wakes blocking queries like Consul's snapshot restore),
 * `reapTombstones`, `stall` (accept requests, never answer).
 */
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse
} from "node:http"
import { createServer as createHttpsServer } from "node:https"
import type { Socket } from "node:net"
import * as GoDuration from "../../src/GoDuration.js"
import { type Clock, Duration, Effect, Either, Fiber, type Scope } from "effect"

export interface DoubleClock {
  readonly now: () => number
  /** Calls `fire` once the clock reaches `at`; returns a cancel function. */
  readonly setTimer: (at: number, fire: () => void) => () => void
}

/** The wall clock. */
export const systemClock: DoubleClock = {
  now: () => Date.now(),
  setTimer: (at, fire) => {
    const handle = setTimeout(fire, Math.max(0, at - Date.now()))
    return () => clearTimeout(handle)
  }
}

/** A clock that moves only when told to. */
export class ManualClock implements DoubleClock {
  private current: number
  private timers: Array<{ at: number; seq: number; fire: () => void }> = []
  private seq = 0
  constructor(start = 1_700_000_000_000) {
    this.current = start
  }
  readonly now = (): number => this.current
  readonly setTimer = (at: number, fire: () => void): (() => void) => {
    const timer = { at, seq: this.seq++, fire }
    this.timers.push(timer)
    return () => {
      this.timers = this.timers.filter((t) => t !== timer)
    }
  }
  /** Moves time forward, firing every timer that falls due, in order. */
  advance(millis: number): void {
    const target = this.current + millis
    for (;;) {
      const due = this.timers.filter((t) => t.at <= target).sort((a, b) => a.at - b.at || a.seq - b.seq)[0]
      if (due === undefined) break
      this.timers = this.timers.filter((t) => t !== due)
      this.current = Math.max(this.current, due.at)
      due.fire()
    }
    this.current = target
  }
  /** Timers still pending (blocking waits, session TTLs). */
  get pending(): number {
    return this.timers.length
  }
}

/**
 * A clock over an Effect `Clock` (say, the current test's `TestClock`), so
 * `TestClock.adjust` drives the double's session expiry and blocking waits.
 */
export const effectClock = (clock: Clock.Clock): DoubleClock => {
  const now = () => clock.unsafeCurrentTimeMillis()
  return {
    now,
    setTimer: (at, fire) => {
      const fiber = Effect.runFork(
        Effect.zipRight(clock.sleep(Duration.millis(Math.max(0, at - now()))), Effect.sync(fire))
      )
      return () => {
        Effect.runFork(Fiber.interrupt(fiber))
      }
    }
  }
}

/** A clock whose source can be swapped, for a double shared by tests that each have their own `TestClock`. */
export class SwitchableClock implements DoubleClock {
  constructor(private target: DoubleClock = systemClock) {}
  use(target: DoubleClock): void {
    this.target = target
  }
  readonly now = (): number => this.target.now()
  readonly setTimer = (at: number, fire: () => void): (() => void) => this.target.setTimer(at, fire)
}

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
  /** Serve HTTPS with these PEM contents; with `ca`, require client certificates signed by it. */
  readonly tls?: { readonly cert: string; readonly key: string; readonly ca?: string }
}

export interface DoubleEntry {
  readonly key: string
  readonly value: Buffer
  readonly flags: number
  readonly createIndex: number
  readonly modifyIndex: number
  readonly lockIndex: number
  readonly session: string | undefined
}

export interface DoubleSession {
  readonly id: string
  readonly name: string
  readonly behavior: "release" | "delete"
  readonly ttlMillis: number | undefined
  readonly lockDelayMillis: number
  readonly createIndex: number
  /** When the double will invalidate it (undefined without a TTL). */
  expiresAt: number | undefined
  cancelTimer: () => void
}

export interface RequestRecord {
  readonly method: string
  readonly path: string
  readonly query: string
}

const SESSION_TTL_MAX = 24 * 3_600_000
const DEFAULT_WAIT = 5 * 60_000
const MAX_WAIT = 10 * 60_000

class HttpError {
  constructor(
    readonly status: number,
    readonly body: string
  ) {}
}

interface Reply {
  readonly status: number
  readonly body: string
  readonly index?: number
}

interface Waiter {
  /** Re-runs the query; answers and returns true if it may return now. */
  readonly recheck: (force: boolean) => boolean
}

/** Go's `time.Duration` `%d`: nanoseconds. */
const nanos = (millis: number) => Math.round(millis * 1e6)

const parseGoMillis = (text: string): number | undefined =>
  Either.getOrUndefined(GoDuration.parseMillis(text))

export class ConsulDouble {
  readonly clock: DoubleClock
  readonly requests: Array<RequestRecord> = []
  private readonly options: ConsulDoubleOptions
  private server: Server | undefined
  private readonly sockets = new Set<Socket>()
  private readonly waiters = new Set<Waiter>()
  private readonly held = new Set<ServerResponse>()
  private stalled = false
  private portNumber = 0
  private sessionCounter = 0

  private raftIndex = 0
  private kvsIndex = 0
  private tombstonesIndex = 0
  private readonly kv = new Map<string, DoubleEntry>()
  private readonly tombstones = new Map<string, number>()
  private readonly lockDelays = new Map<string, number>()
  private readonly sessionTable = new Map<string, DoubleSession>()

  constructor(options: ConsulDoubleOptions = {}) {
    this.options = options
    this.clock = options.clock ?? systemClock
    this.resetState()
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
    this.waiters.clear()
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
    for (const session of this.sessionTable.values()) session.cancelTimer()
  }

  /** Wipes the state, as a fresh server would have it; blocking queries return at once (Consul does so on a snapshot restore). */
  reset(): void {
    this.resetState()
    for (const waiter of [...this.waiters]) waiter.recheck(true)
  }

  /** Forgets tombstones, as Consul's reaper does after `tombstone_ttl`; a prefix's index may go backwards. */
  reapTombstones(): void {
    this.tombstones.clear()
    this.tombstonesIndex = 0
    this.notify()
  }

  /** While stalled, requests are accepted and never answered. */
  stall(on: boolean): void {
    this.stalled = on
  }

  // ---- inspection ------------------------------------------------------

  get(key: string): { value: string; session: string | undefined; modifyIndex: number } | undefined {
    const entry = this.kv.get(key)
    return (
      entry && { value: entry.value.toString("utf8"), session: entry.session, modifyIndex: entry.modifyIndex }
    )
  }
  keys(): Array<string> {
    return [...this.kv.keys()].sort()
  }
  sessions(): Array<DoubleSession> {
    return [...this.sessionTable.values()]
  }
  get index(): number {
    return this.raftIndex
  }
  /** Blocking queries waiting for a change. */
  get blocked(): number {
    return this.waiters.size
  }
  count(method: string, pathPrefix: string): number {
    return this.requests.filter((r) => r.method === method && r.path.startsWith(pathPrefix)).length
  }

  // ---- state -----------------------------------------------------------

  private resetState(): void {
    for (const session of this.sessionTable.values()) session.cancelTimer()
    this.sessionTable.clear()
    this.kv.clear()
    this.tombstones.clear()
    this.lockDelays.clear()
    this.raftIndex = this.options.initialIndex ?? 1
    this.kvsIndex = 0
    this.tombstonesIndex = 0
  }

  private nextIndex(): number {
    return ++this.raftIndex
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter.recheck(false)
  }

  private setEntry(entry: DoubleEntry): void {
    this.kv.set(entry.key, entry)
    this.tombstones.delete(entry.key)
    this.kvsIndex = entry.modifyIndex
  }

  private deleteEntry(key: string, index: number): boolean {
    if (!this.kv.delete(key)) return false
    this.tombstones.set(key, index)
    this.tombstonesIndex = index
    this.kvsIndex = index
    return true
  }

  /** kvsListTxn: the highest index under the prefix, else the table's, never below 1. */
  private prefixIndex(prefix: string): number {
    const tableIndex = Math.max(this.kvsIndex, this.tombstonesIndex)
    let sub = 0
    if (prefix === "") {
      sub = tableIndex
    } else {
      for (const entry of this.kv.values())
        if (entry.key.startsWith(prefix)) sub = Math.max(sub, entry.modifyIndex)
      for (const [key, index] of this.tombstones) if (key.startsWith(prefix)) sub = Math.max(sub, index)
    }
    return Math.max(1, sub !== 0 ? sub : tableIndex)
  }

  private keyIndex(key: string): number {
    const entry = this.kv.get(key)
    const sub = Math.max(entry?.modifyIndex ?? 0, this.tombstones.get(key) ?? 0)
    return Math.max(1, sub !== 0 ? sub : Math.max(this.kvsIndex, this.tombstonesIndex))
  }

  private invalidate(id: string): void {
    const session = this.sessionTable.get(id)
    if (session === undefined) return
    session.cancelTimer()
    this.sessionTable.delete(id)
    const index = this.nextIndex()
    const now = this.clock.now()
    for (const entry of [...this.kv.values()]) {
      if (entry.session !== id) continue
      if (session.lockDelayMillis > 0) this.lockDelays.set(entry.key, now + session.lockDelayMillis)
      if (session.behavior === "delete") this.deleteEntry(entry.key, index)
      else this.setEntry({ ...entry, session: undefined, modifyIndex: index })
    }
    this.notify()
  }

  private armTimer(session: DoubleSession): void {
    session.cancelTimer()
    if (session.ttlMillis === undefined) return
    const at = this.clock.now() + session.ttlMillis * (this.options.ttlMultiplier ?? 2)
    session.expiresAt = at
    session.cancelTimer = this.clock.setTimer(at, () => this.invalidate(session.id))
  }

  // ---- HTTP --------------------------------------------------------------

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? "/", "http://double")
    this.requests.push({ method: req.method ?? "", path: url.pathname, query: url.search })
    const chunks: Array<Buffer> = []
    req.on("data", (chunk: Buffer) => chunks.push(chunk))
    req.on("end", () => {
      if (this.stalled) {
        this.held.add(res)
        return
      }
      try {
        let path: string
        try {
          path = decodeURIComponent(url.pathname)
        } catch {
          throw new HttpError(400, "Invalid URL path encoding")
        }
        this.route(req.method ?? "GET", path, url.searchParams, Buffer.concat(chunks), res)
      } catch (error) {
        if (error instanceof HttpError) this.send(res, { status: error.status, body: error.body })
        else this.send(res, { status: 500, body: String(error) })
      }
    })
  }

  private send(res: ServerResponse, reply: Reply): void {
    if (res.writableEnded || res.destroyed) return
    const headers: Record<string, string> = {
      "Content-Type": reply.status === 200 ? "application/json" : "text/plain; charset=utf-8",
      "X-Consul-Knownleader": "true",
      "X-Consul-Lastcontact": "0"
    }
    if (reply.index !== undefined) headers["X-Consul-Index"] = String(reply.index)
    // Go's net/http sets a length on an answer that fits its 2 KB buffer and chunks a larger one.
    const length = Buffer.byteLength(reply.body)
    if (length < 2048) headers["Content-Length"] = String(length)
    res.writeHead(reply.status, headers)
    res.end(reply.body)
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
          return this.kvGet(key, params, res)
        case "PUT":
          return this.send(res, this.kvPut(key, params, body))
        case "DELETE":
          return this.send(res, this.kvDelete(key, params))
        default:
          throw new HttpError(405, `method ${method} not allowed`)
      }
    }
    const session = /^\/v1\/session\/(create|renew|destroy|info)(?:\/(.*))?$/.exec(path)
    if (session !== null) {
      const [, op, id = ""] = session
      if (op === "info") {
        if (method !== "GET") throw new HttpError(405, `method ${method} not allowed`)
        const found = this.sessionTable.get(id)
        return this.send(res, {
          status: 200,
          body: JSON.stringify(found ? [this.sessionJson(found)] : []),
          index: this.raftIndex
        })
      }
      if (method !== "PUT") throw new HttpError(405, `method ${method} not allowed`)
      if (op === "create") return this.send(res, this.sessionCreate(body))
      if (id === "") throw new HttpError(400, "Missing session")
      if (op === "renew") {
        const found = this.sessionTable.get(id)
        if (found === undefined) return this.send(res, { status: 404, body: `Session id '${id}' not found` })
        this.armTimer(found)
        return this.send(res, { status: 200, body: JSON.stringify([this.sessionJson(found)]) })
      }
      this.invalidate(id)
      return this.send(res, { status: 200, body: "true" })
    }
    this.send(res, { status: 404, body: "404 page not found" })
  }

  private sessionJson(session: DoubleSession) {
    return {
      ID: session.id,
      Name: session.name,
      Node: "consul-double",
      LockDelay: nanos(session.lockDelayMillis),
      Behavior: session.behavior,
      TTL: session.ttlMillis === undefined ? "" : GoDuration.format(session.ttlMillis),
      NodeChecks: ["serfHealth"],
      ServiceChecks: null,
      CreateIndex: session.createIndex,
      ModifyIndex: session.createIndex
    }
  }

  private sessionCreate(body: Buffer): Reply {
    let input: Record<string, unknown> = {}
    if (body.length > 0) {
      try {
        const parsed: unknown = JSON.parse(body.toString("utf8"))
        if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
          throw new Error("not an object")
        input = parsed as Record<string, unknown>
      } catch (error) {
        return { status: 400, body: `Request decode failed: ${String(error)}` }
      }
    }
    const field = (name: string) => Object.entries(input).find(([k]) => k.toLowerCase() === name)?.[1]
    // FixupLockDelay: strings are Go durations, numbers are nanoseconds; either below 1000ns means seconds.
    let lockDelayMillis = 15_000
    const rawDelay = field("lockdelay")
    if (typeof rawDelay === "string") {
      const millis = parseGoMillis(rawDelay)
      if (millis === undefined)
        return { status: 400, body: `Request decode failed: time: invalid duration "${rawDelay}"` }
      lockDelayMillis = millis * 1e6 < 1000 ? millis * 1000 : millis
    } else if (typeof rawDelay === "number") {
      lockDelayMillis = rawDelay < 1000 ? rawDelay * 1000 : rawDelay / 1e6
    }
    const behavior = field("behavior") ?? "release"
    if (behavior !== "release" && behavior !== "delete") {
      return { status: 500, body: `Invalid Behavior setting '${String(behavior)}'` }
    }
    const rawTtl = field("ttl") ?? ""
    let ttlMillis: number | undefined
    if (rawTtl !== "") {
      const millis = typeof rawTtl === "string" ? parseGoMillis(rawTtl) : undefined
      if (millis === undefined) return { status: 500, body: `Session TTL '${String(rawTtl)}' invalid` }
      const min = this.options.sessionTtlMinMillis ?? 10_000
      if (millis !== 0 && (millis < min || millis > SESSION_TTL_MAX)) {
        return {
          status: 500,
          body: `Invalid Session TTL '${nanos(millis)}', must be between [${GoDuration.format(min)}=${GoDuration.format(SESSION_TTL_MAX)}]`
        }
      }
      ttlMillis = millis === 0 ? undefined : millis
    }
    const n = ++this.sessionCounter
    const id = `${n.toString(16).padStart(8, "0")}-d0b1-e000-0000-${(this.portNumber * 1000 + n).toString(16).padStart(12, "0")}`
    const session: DoubleSession = {
      id,
      name: typeof field("name") === "string" ? (field("name") as string) : "",
      behavior,
      ttlMillis,
      lockDelayMillis,
      createIndex: this.nextIndex(),
      expiresAt: undefined,
      cancelTimer: () => {}
    }
    this.sessionTable.set(id, session)
    this.armTimer(session)
    return { status: 200, body: JSON.stringify({ ID: id }) }
  }

  private entryJson(entry: DoubleEntry) {
    return {
      LockIndex: entry.lockIndex,
      Key: entry.key,
      Flags: entry.flags,
      Value: entry.value.length === 0 ? null : entry.value.toString("base64"),
      ...(entry.session ? { Session: entry.session } : {}),
      CreateIndex: entry.createIndex,
      ModifyIndex: entry.modifyIndex
    }
  }

  private kvRead(key: string, params: URLSearchParams): Reply {
    if (params.has("keys")) {
      const separator = params.get("separator") ?? params.get("seperator") ?? ""
      const keys = new Set<string>()
      for (const k of this.kv.keys()) {
        if (!k.startsWith(key)) continue
        const cut = separator === "" ? -1 : k.indexOf(separator, key.length)
        keys.add(cut < 0 ? k : k.slice(0, cut + separator.length))
      }
      const index = this.prefixIndex(key)
      if (keys.size === 0 && key !== "") return { status: 404, body: "", index }
      return { status: 200, body: JSON.stringify([...keys].sort()), index }
    }
    if (params.has("recurse")) {
      const entries = [...this.kv.values()]
        .filter((e) => e.key.startsWith(key))
        .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      const index = this.prefixIndex(key)
      if (entries.length === 0) return { status: 404, body: "", index }
      return { status: 200, body: JSON.stringify(entries.map((e) => this.entryJson(e))), index }
    }
    if (key === "") throw new HttpError(400, "Missing key name")
    const entry = this.kv.get(key)
    const index = this.keyIndex(key)
    if (entry === undefined) return { status: 404, body: "", index }
    if (params.has("raw")) return { status: 200, body: entry.value.toString("utf8"), index }
    return { status: 200, body: JSON.stringify([this.entryJson(entry)]), index }
  }

  private kvGet(key: string, params: URLSearchParams, res: ServerResponse): void {
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
    const first = this.kvRead(key, params)
    if (minIndex === 0 || first.index! > minIndex) return this.send(res, first)
    // Block until the index passes minIndex or the wait ends (blockingQuery).
    let cancelTimer = () => {}
    const waiter: Waiter = {
      recheck: (force) => {
        const reply = this.kvRead(key, params)
        if (!force && reply.index! <= minIndex) return false
        this.waiters.delete(waiter)
        cancelTimer()
        this.send(res, reply)
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

  private kvPut(key: string, params: URLSearchParams, body: Buffer): Reply {
    if (key === "") throw new HttpError(400, "Missing key name")
    const flagNames = ["cas", "acquire", "release"].filter((f) => params.has(f))
    if (flagNames.length > 1) throw new HttpError(400, `Conflicting flags: ${params.toString()}\n`)
    const flags = params.has("flags") ? Number(params.get("flags")) : 0
    if (!Number.isSafeInteger(flags) || flags < 0)
      throw new HttpError(400, `strconv.ParseUint: invalid flags`)
    const existing = this.kv.get(key)
    const index = this.nextIndex()
    const write = (session: string | undefined, lockIndex: number) => {
      this.setEntry({
        key,
        value: body,
        flags,
        createIndex: existing?.createIndex ?? index,
        modifyIndex: index,
        lockIndex,
        session
      })
      this.notify()
    }
    const answer = (ok: boolean): Reply => ({ status: 200, body: ok ? "true" : "false" })
    if (params.has("acquire")) {
      const id = params.get("acquire") ?? ""
      if (!this.sessionTable.has(id)) return { status: 500, body: `Invalid session ${JSON.stringify(id)}` }
      if (existing?.session !== undefined && existing.session !== id) return answer(false)
      const delayUntil = this.lockDelays.get(key)
      if (delayUntil !== undefined && this.clock.now() < delayUntil && existing?.session !== id)
        return answer(false)
      const lockIndex = existing?.session === id ? existing.lockIndex : (existing?.lockIndex ?? 0) + 1
      write(id, lockIndex)
      return answer(true)
    }
    if (params.has("release")) {
      const id = params.get("release") ?? ""
      if (existing === undefined || existing.session !== id) return answer(false)
      write(undefined, existing.lockIndex)
      return answer(true)
    }
    if (params.has("cas")) {
      const cas = Number(params.get("cas"))
      if (!Number.isSafeInteger(cas) || cas < 0) throw new HttpError(400, "strconv.ParseUint: invalid cas")
      if (cas === 0 ? existing !== undefined : existing?.modifyIndex !== cas) return answer(false)
    }
    write(existing?.session, existing?.lockIndex ?? 0)
    return answer(true)
  }

  private kvDelete(key: string, params: URLSearchParams): Reply {
    if (params.has("recurse") && params.has("cas"))
      throw new HttpError(400, `Conflicting flags: ${params.toString()}\n`)
    const index = this.nextIndex()
    if (params.has("recurse")) {
      let any = false
      for (const k of [...this.kv.keys()]) if (k.startsWith(key)) any = this.deleteEntry(k, index) || any
      if (any) this.notify()
      return { status: 200, body: "true" }
    }
    if (key === "") throw new HttpError(400, "Missing key name")
    if (params.has("cas")) {
      const cas = Number(params.get("cas"))
      if (this.kv.get(key)?.modifyIndex !== cas) return { status: 200, body: "false" }
    }
    if (this.deleteEntry(key, index)) this.notify()
    return { status: 200, body: "true" }
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
