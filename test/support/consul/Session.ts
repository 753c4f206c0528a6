/**
 * The Consul double's session endpoint, after agent/session_endpoint.go:
 * `create` (TTL within [10s, 24h], `Behavior` release|delete, `LockDelay`
 * with Consul's "small numbers are seconds" rule), `renew` (404 for an
 * unknown session), `destroy`, `info`. Expiry and invalidation live in the
 * state (State.ts).
 */
import * as GoDuration from "../../../src/GoDuration.js"
import { HttpError, nanos, parseGoMillis, type Reply } from "./Http.js"
import type { ConsulState, DoubleSession } from "./State.js"

const SESSION_TTL_MAX = 24 * 3_600_000

export interface SessionOptions {
  /** Default 10s, like Consul's `session_ttl_min`. */
  readonly sessionTtlMinMillis?: number
}

const sessionJson = (session: DoubleSession) => ({
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
})

export class SessionEndpoint {
  // Outlives `reset`, so a session id is never handed out twice.
  private counter = 0

  constructor(
    private readonly state: ConsulState,
    private readonly options: SessionOptions,
    /** The double's port, part of every id so two doubles' sessions differ. */
    private readonly port: () => number
  ) {}

  /** `/v1/session/<op>/<id>`. */
  handle(method: string, op: string, id: string, body: Buffer): Reply {
    if (op === "info") {
      if (method !== "GET") throw new HttpError(405, `method ${method} not allowed`)
      const found = this.state.sessions.get(id)
      return {
        status: 200,
        body: JSON.stringify(found ? [sessionJson(found)] : []),
        index: this.state.index
      }
    }
    if (method !== "PUT") throw new HttpError(405, `method ${method} not allowed`)
    if (op === "create") return this.create(body)
    if (id === "") throw new HttpError(400, "Missing session")
    if (op === "renew") {
      const found = this.state.sessions.get(id)
      if (found === undefined) return { status: 404, body: `Session id '${id}' not found` }
      this.state.armTimer(found)
      return { status: 200, body: JSON.stringify([sessionJson(found)]) }
    }
    this.state.invalidate(id)
    return { status: 200, body: "true" }
  }

  private create(body: Buffer): Reply {
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
    const n = ++this.counter
    const id = `${n.toString(16).padStart(8, "0")}-d0b1-e000-0000-${(this.port() * 1000 + n).toString(16).padStart(12, "0")}`
    const session: DoubleSession = {
      id,
      name: typeof field("name") === "string" ? (field("name") as string) : "",
      behavior,
      ttlMillis,
      lockDelayMillis,
      createIndex: this.state.nextIndex(),
      expiresAt: undefined,
      cancelTimer: () => {}
    }
    this.state.sessions.set(id, session)
    this.state.armTimer(session)
    return { status: 200, body: JSON.stringify({ ID: id }) }
  }
}
