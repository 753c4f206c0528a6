/**
 * A `KvStore` over Consul's HTTP API: the KV endpoints, sessions for TTLs,
 * and blocking queries for watches.
 *
 * **Tested only against an in-process double of Consul's HTTP API; it has not
 * been tried against a real Consul server.**
 *
 * - **TTL.** A put with a `ttl` acquires the key with a session that has a TTL
 *   and `Behavior: "delete"`, as libkv did, so Consul deletes the key when the
 *   session is invalidated. Consul invalidates a session somewhere between its
 *   TTL and twice its TTL after the last renewal, so the session TTL is half
 *   the requested one (libkv's rule): the key vanishes between ttl/2 and ttl
 *   after its last put. Consul accepts session TTLs from 10s to 24h, so a ttl
 *   under 20s lives 10s–20s, and one over 48h is cut to 24h–48h.
 * - **Sessions.** One session per distinct TTL (in practice one per store),
 *   created on first use, renewed by every put that uses it, and re-created
 *   when Consul has invalidated it (a 404 from renew). Keys that share a
 *   session share its life: a put renews them all. Closing the store's scope
 *   destroys its sessions, which deletes their keys (a graceful leave).
 * - **Watch.** Blocking queries (`?recurse&index=N&wait=30s`). A snapshot is
 *   emitted whenever `X-Consul-Index` changes. When the index goes backwards
 *   (a restore, a restarted server, reaped tombstones) the query restarts from
 *   0, as Consul's docs say; the emitted index is then shifted so it keeps
 *   growing. The first failure fails the stream (so `list` reports it); later
 *   ones are logged and retried with capped exponential backoff.
 * - **Errors.** Transport failures, 5xx and 429 are `Unavailable`; no answer
 *   within `requestTimeout` is `Timeout`; any other status or an undecodable
 *   body is `BadResponse`. Each detail names the Consul address.
 * - Keys lose any leading `/`, which Consul rejects. Consul 1.21.5 briefly
 *   rejected `:` in keys, which Swarm's `host:port` layout needs
 *   (hashicorp/consul#22822, lifted again by #22939): avoid that release.
 */
import { Duration, Effect, Either, Layer, Option, Schedule, type Scope, Stream } from "effect"
import { readFileSync } from "node:fs"
import * as Http from "node:http"
import * as Https from "node:https"
import type { TlsFiles } from "../internal/TlsFiles.js"
import * as GoDuration from "../GoDuration.js"
import {
  KvError,
  KvStore,
  type KvPair,
  type KvSnapshot,
  type KvStoreShape,
  type PutOptions,
  type PutResult
} from "../KvStore.js"

export interface ConsulConfig {
  /** `host:port` (http, or https when `tls` is set; the port defaults to 8500), or a full `http(s)://` URL. */
  readonly address: string
  /** PEM files: `kv.cacertfile`, `kv.certfile`, `kv.keyfile`. */
  readonly tls?: TlsFiles
  /** An ACL token, sent as `X-Consul-Token`. */
  readonly token?: string
  /** Every request but a blocking query gives up after this long. Default 10s. */
  readonly requestTimeout?: Duration.DurationInput
  /** How long one blocking query waits. Default 30s. */
  readonly watchWait?: Duration.DurationInput
  /** Watch retry backoff: starts here and doubles... Default 100ms. */
  readonly retryBase?: Duration.DurationInput
  /** ...up to this. Default 5s. */
  readonly retryCap?: Duration.DurationInput
  /** The session name shown in Consul. Default `swarm-discovery`. */
  readonly sessionName?: string
}

const STORE = "consul"
const DEFAULT_PORT = 8500
const SESSION_TTL_MIN = 10_000
const SESSION_TTL_MAX = 24 * 3_600_000

/** The session TTL for a requested key TTL: half of it (Consul waits up to twice), within Consul's bounds. */
export const sessionTtlMillis = (ttl: Duration.DurationInput): number =>
  Math.min(
    SESSION_TTL_MAX,
    Math.max(SESSION_TTL_MIN, Math.floor(Duration.toMillis(Duration.decode(ttl)) / 2))
  )

export interface Endpoint {
  /** `http(s)://host:port`, for requests and messages. */
  readonly origin: string
  /** A path prefix from the URL form, without a trailing slash (usually empty). */
  readonly basePath: string
  readonly secure: boolean
}

const invalid = (detail: string, cause?: unknown) =>
  new KvError({ store: STORE, reason: "Invalid", detail, ...(cause === undefined ? {} : { cause }) })

/** Resolves `host:port` or a URL into where requests go. */
export const resolveEndpoint = (
  address: string,
  tls: TlsFiles | undefined
): Either.Either<Endpoint, KvError> => {
  const trimmed = address.trim()
  const explicit = /^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed)
  let url: URL
  try {
    url = new URL(explicit ? trimmed : `${tls ? "https" : "http"}://${trimmed}`)
  } catch (cause) {
    return Either.left(
      invalid(
        `invalid Consul address ${JSON.stringify(address)}: expected host:port or an http(s):// URL`,
        cause
      )
    )
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return Either.left(
      invalid(`invalid Consul address ${JSON.stringify(address)}: the scheme must be http or https`)
    )
  }
  if (url.hostname === "" || url.search !== "" || url.hash !== "" || url.username !== "") {
    return Either.left(
      invalid(`invalid Consul address ${JSON.stringify(address)}: expected host:port or an http(s):// URL`)
    )
  }
  if (!explicit && url.pathname !== "/") {
    return Either.left(
      invalid(`invalid Consul address ${JSON.stringify(address)}: expected host:port without a path`)
    )
  }
  const secure = url.protocol === "https:"
  if (tls !== undefined && !secure) {
    return Either.left(
      invalid(
        `TLS files were given (kv.cacertfile/kv.certfile/kv.keyfile) but the Consul address ${address} is http://; use https://`
      )
    )
  }
  if (!explicit && url.port === "") url.port = String(DEFAULT_PORT)
  return Either.right({ origin: url.origin, basePath: url.pathname.replace(/\/+$/, ""), secure })
}

const readPem = (option: string, path: string) =>
  Effect.try({
    try: () => readFileSync(path),
    catch: (cause) =>
      invalid(
        `cannot read ${option} ${path}: ${cause instanceof Error ? cause.message : String(cause)}`,
        cause
      )
  })

/** Consul keys never start with `/`. */
const normalize = (key: string) => key.replace(/^\/+/, "")

const kvPath = (key: string) => `/v1/kv/${key.split("/").map(encodeURIComponent).join("/")}`

interface Reply {
  readonly status: number
  readonly index: number | undefined
  readonly body: string
}

interface Entry {
  readonly key: string
  readonly value: string
  readonly session: string | undefined
}

type Query = Readonly<Record<string, string | true | undefined>>

const queryString = (query: Query | undefined) => {
  const parts: Array<string> = []
  for (const [name, value] of Object.entries(query ?? {})) {
    if (value === true) parts.push(encodeURIComponent(name))
    else if (value !== undefined) parts.push(`${encodeURIComponent(name)}=${encodeURIComponent(value)}`)
  }
  return parts.length === 0 ? "" : `?${parts.join("&")}`
}

const byKey = (a: KvPair, b: KvPair) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)

export const make = (config: ConsulConfig): Effect.Effect<KvStoreShape, KvError, Scope.Scope> =>
  Effect.gen(function* () {
    const endpoint = yield* resolveEndpoint(config.address, config.tls)
    const { origin } = endpoint
    const requestTimeout = Duration.decode(config.requestTimeout ?? Duration.seconds(10))
    const watchWait = Duration.decode(config.watchWait ?? Duration.seconds(30))
    // Consul adds up to wait/16 of jitter to a blocking query.
    const blockingTimeout = Duration.sum(
      Duration.sum(watchWait, Duration.millis(Duration.toMillis(watchWait) / 16)),
      requestTimeout
    )
    const retrySchedule = Schedule.exponential(config.retryBase ?? Duration.millis(100)).pipe(
      Schedule.union(Schedule.spaced(config.retryCap ?? Duration.seconds(5)))
    )
    const sessionName = config.sessionName ?? "swarm-discovery"

    const tls = config.tls
    if ((tls?.cert === undefined) !== (tls?.key === undefined)) {
      return yield* Effect.fail(invalid("kv.certfile and kv.keyfile go together: give both or neither"))
    }
    const pems = {
      ...(tls?.ca ? { ca: yield* readPem("kv.cacertfile", tls.ca) } : {}),
      ...(tls?.cert ? { cert: yield* readPem("kv.certfile", tls.cert) } : {}),
      ...(tls?.key ? { key: yield* readPem("kv.keyfile", tls.key) } : {})
    }
    const agent = yield* Effect.acquireRelease(
      Effect.sync(() =>
        endpoint.secure ? new Https.Agent({ keepAlive: true, ...pems }) : new Http.Agent({ keepAlive: true })
      ),
      (agent) => Effect.sync(() => agent.destroy())
    )
    const transport = endpoint.secure ? Https : Http

    // ---- HTTP ------------------------------------------------------------

    /** One attempt; fails with `"stale"` when a kept-alive socket was closed under us (safe to retry once). */
    const attempt = (method: string, path: string, query: Query | undefined, body: string | undefined) =>
      Effect.async<Reply, KvError | "stale">((resume) => {
        const target = `${origin}${endpoint.basePath}${path}${queryString(query)}`
        const headers: Record<string, string> = {}
        if (config.token !== undefined) headers["X-Consul-Token"] = config.token
        let settled = false
        const settle = (effect: Effect.Effect<Reply, KvError | "stale">) => {
          if (!settled) {
            settled = true
            resume(effect)
          }
        }
        const req = transport.request(target, { method, agent, headers }, (res) => {
          const chunks: Array<Buffer> = []
          res.on("data", (chunk: Buffer) => chunks.push(chunk))
          res.on("error", (cause) =>
            settle(
              Effect.fail(
                new KvError({
                  store: STORE,
                  reason: "Unavailable",
                  detail: `Consul at ${origin} broke off its answer to ${method} ${path}: ${cause.message}`,
                  cause
                })
              )
            )
          )
          res.on("end", () => {
            const header = res.headers["x-consul-index"]
            const index = typeof header === "string" && /^\d+$/.test(header) ? Number(header) : undefined
            settle(
              Effect.succeed({
                status: res.statusCode ?? 0,
                index,
                body: Buffer.concat(chunks).toString("utf8")
              })
            )
          })
        })
        req.on("error", (cause: NodeJS.ErrnoException) => {
          if (req.reusedSocket && cause.code === "ECONNRESET") return settle(Effect.fail("stale" as const))
          settle(
            Effect.fail(
              new KvError({
                store: STORE,
                reason: "Unavailable",
                detail: `cannot reach Consul at ${origin} (${method} ${path}): ${cause.message}`,
                cause
              })
            )
          )
        })
        req.end(body)
        return Effect.sync(() => {
          settled = true
          req.destroy()
        })
      })

    const request = (
      method: string,
      path: string,
      options: { readonly query?: Query; readonly body?: string; readonly timeout?: Duration.Duration } = {}
    ): Effect.Effect<Reply, KvError> => {
      const once = attempt(method, path, options.query, options.body)
      return once.pipe(
        Effect.catchIf(
          (e): e is "stale" => e === "stale",
          () => once
        ),
        Effect.catchIf(
          (e): e is "stale" => e === "stale",
          () =>
            Effect.fail(
              new KvError({
                store: STORE,
                reason: "Unavailable",
                detail: `Consul at ${origin} closed the connection (${method} ${path})`
              })
            )
        ),
        Effect.timeoutFail({
          duration: options.timeout ?? requestTimeout,
          onTimeout: () =>
            new KvError({
              store: STORE,
              reason: "Timeout",
              detail: `Consul at ${origin} did not answer ${method} ${path} within ${Duration.format(options.timeout ?? requestTimeout)}`
            })
        })
      )
    }

    const badResponse = (method: string, path: string, reply: Reply, detail?: string) =>
      new KvError({
        store: STORE,
        // 5xx ("No cluster leader", a proxy's 502) and 429 are Consul being unavailable, not a wrong answer.
        reason: reply.status >= 500 || reply.status === 429 ? "Unavailable" : "BadResponse",
        detail: `Consul at ${origin} answered ${reply.status} to ${method} ${path}: ${detail ?? (reply.body.trim().slice(0, 300) || "(empty body)")}`
      })

    const expect = (method: string, path: string, reply: Reply, ok: ReadonlyArray<number>) =>
      ok.includes(reply.status) ? Effect.succeed(reply) : Effect.fail(badResponse(method, path, reply))

    const decodeJson = (method: string, path: string, reply: Reply) =>
      Effect.try({
        try: () => JSON.parse(reply.body) as unknown,
        catch: () => badResponse(method, path, reply, `not JSON: ${reply.body.slice(0, 100)}`)
      })

    const decodeEntries = (method: string, path: string, reply: Reply) =>
      Effect.flatMap(decodeJson(method, path, reply), (json) => {
        if (!Array.isArray(json))
          return Effect.fail(badResponse(method, path, reply, "expected a JSON array of entries"))
        const entries: Array<Entry> = []
        for (const item of json as Array<unknown>) {
          const e = item as { Key?: unknown; Value?: unknown; Session?: unknown } | null
          if (
            typeof e !== "object" ||
            e === null ||
            typeof e.Key !== "string" ||
            (e.Value !== null && e.Value !== undefined && typeof e.Value !== "string")
          ) {
            return Effect.fail(
              badResponse(method, path, reply, `unexpected entry ${JSON.stringify(item).slice(0, 100)}`)
            )
          }
          entries.push({
            key: e.Key,
            value: typeof e.Value === "string" ? Buffer.from(e.Value, "base64").toString("utf8") : "",
            session: typeof e.Session === "string" && e.Session !== "" ? e.Session : undefined
          })
        }
        return Effect.succeed(entries)
      })

    /** A PUT/DELETE that answers `true` or `false`. */
    const decision = (method: string, path: string, reply: Reply) =>
      Effect.flatMap(expect(method, path, reply, [200]), () => {
        const text = reply.body.trim()
        return text === "true" || text === "false"
          ? Effect.succeed(text === "true")
          : Effect.fail(badResponse(method, path, reply, `expected true or false, got ${text.slice(0, 100)}`))
      })

    // ---- KV primitives ---------------------------------------------------

    const getEntry = (key: string): Effect.Effect<Entry | undefined, KvError> => {
      const path = kvPath(key)
      return request("GET", path).pipe(
        Effect.flatMap((reply) =>
          reply.status === 404
            ? Effect.succeed(undefined)
            : Effect.flatMap(expect("GET", path, reply, [200]), () =>
                Effect.map(decodeEntries("GET", path, reply), (entries) => entries.find((e) => e.key === key))
              )
        )
      )
    }

    const countKeys = (prefix: string): Effect.Effect<number, KvError> => {
      const path = kvPath(prefix)
      return request("GET", path, { query: { keys: true } }).pipe(
        Effect.flatMap((reply) =>
          reply.status === 404
            ? Effect.succeed(0)
            : Effect.flatMap(expect("GET", path, reply, [200]), () =>
                Effect.flatMap(decodeJson("GET", path, reply), (json) =>
                  Array.isArray(json)
                    ? Effect.succeed(json.length)
                    : Effect.fail(badResponse("GET", path, reply, "expected a JSON array of keys"))
                )
              )
        )
      )
    }

    /** `list` with an optional blocking query. */
    const fetch = (
      prefix: string,
      block?: { readonly index: number }
    ): Effect.Effect<KvSnapshot, KvError> => {
      const path = kvPath(prefix)
      const query: Query = block
        ? { recurse: true, index: String(block.index), wait: GoDuration.format(watchWait) }
        : { recurse: true }
      return request("GET", path, { query, ...(block ? { timeout: blockingTimeout } : {}) }).pipe(
        Effect.flatMap((reply) => {
          if (reply.index === undefined && (reply.status === 200 || reply.status === 404)) {
            return Effect.fail(badResponse("GET", path, reply, "no X-Consul-Index header"))
          }
          // Consul: a returned index of 0 is a bug; treat it as 1 so blocking still blocks.
          const index = Math.max(1, reply.index ?? 1)
          if (reply.status === 404) return Effect.succeed({ pairs: [], index })
          return Effect.flatMap(expect("GET", path, reply, [200]), () =>
            Effect.map(decodeEntries("GET", path, reply), (entries) => ({
              pairs: entries
                .filter((e) => e.key.startsWith(prefix))
                .map(({ key, value }) => ({ key, value }))
                .sort(byKey),
              index
            }))
          )
        })
      )
    }

    const deleteKey = (key: string) => {
      const path = kvPath(key)
      return Effect.flatMap(request("DELETE", path), (reply) => decision("DELETE", path, reply))
    }

    const plainPut = (key: string, value: string, query?: Query) => {
      const path = kvPath(key)
      return Effect.flatMap(request("PUT", path, { body: value, ...(query ? { query } : {}) }), (reply) =>
        decision("PUT", path, reply)
      )
    }

    // ---- sessions --------------------------------------------------------

    /** Session TTL (ms) → the live session's id. */
    const sessions = new Map<number, string>()
    const sessionLock = yield* Effect.makeSemaphore(1)

    const createSession = (ttlMillis: number) => {
      const path = "/v1/session/create"
      const body = JSON.stringify({
        Name: sessionName,
        TTL: GoDuration.format(ttlMillis),
        Behavior: "delete",
        LockDelay: "0s"
      })
      return request("PUT", path, { body }).pipe(
        Effect.flatMap((reply) => expect("PUT", path, reply, [200])),
        Effect.flatMap((reply) =>
          Effect.flatMap(decodeJson("PUT", path, reply), (json) => {
            const id = (json as { ID?: unknown } | null)?.ID
            return typeof id === "string" && id !== ""
              ? Effect.succeed(id)
              : Effect.fail(badResponse("PUT", path, reply, "no session ID in the answer"))
          })
        )
      )
    }

    /** False when Consul no longer knows the session (it was invalidated). */
    const renewSession = (id: string) => {
      const path = `/v1/session/renew/${encodeURIComponent(id)}`
      return Effect.flatMap(request("PUT", path), (reply) =>
        reply.status === 404 ? Effect.succeed(false) : Effect.as(expect("PUT", path, reply, [200]), true)
      )
    }

    const destroySession = (id: string) => {
      const path = `/v1/session/destroy/${encodeURIComponent(id)}`
      return Effect.flatMap(request("PUT", path), (reply) => expect("PUT", path, reply, [200]))
    }

    /** The live session for this TTL: renewed, or created when missing or invalidated. */
    const sessionFor = (ttlMillis: number): Effect.Effect<string, KvError> =>
      sessionLock.withPermits(1)(
        Effect.gen(function* () {
          const current = sessions.get(ttlMillis)
          if (current !== undefined) {
            if (yield* renewSession(current)) return current
            sessions.delete(ttlMillis)
            yield* Effect.logDebug(`Consul session ${current} was invalidated; creating a new one`)
          }
          const id = yield* createSession(ttlMillis)
          sessions.set(ttlMillis, id)
          return id
        })
      )

    const forgetSession = (ttlMillis: number, id: string) =>
      Effect.sync(() => {
        if (sessions.get(ttlMillis) === id) sessions.delete(ttlMillis)
      })

    const isOurs = (session: string) => [...sessions.values()].includes(session)

    yield* Effect.addFinalizer(() =>
      Effect.forEach(
        [...sessions.values()],
        (id) =>
          destroySession(id).pipe(
            Effect.catchAll((error) =>
              Effect.logWarning(`could not destroy Consul session ${id}: ${error.message}`)
            )
          ),
        { discard: true }
      )
    )

    /** Writes the key under the session; takes it over if another session holds it. */
    const acquire = (
      key: string,
      value: string,
      ttlMillis: number,
      tries = 0
    ): Effect.Effect<void, KvError> =>
      Effect.gen(function* () {
        const id = yield* sessionFor(ttlMillis)
        const path = kvPath(key)
        const reply = yield* request("PUT", path, { query: { acquire: id }, body: value })
        if (reply.status === 500 && /invalid session/i.test(reply.body) && tries < 2) {
          // Invalidated between the renewal and the write.
          yield* forgetSession(ttlMillis, id)
          return yield* acquire(key, value, ttlMillis, tries + 1)
        }
        if (yield* decision("PUT", path, reply)) return
        if (tries < 2) {
          // Held by another session (say, a previous run of this node): a put overwrites, so take the key over.
          yield* deleteKey(key)
          return yield* acquire(key, value, ttlMillis, tries + 1)
        }
        return yield* Effect.fail(
          new KvError({
            store: STORE,
            reason: "BadResponse",
            detail: `Consul at ${origin} keeps ${key} locked by another session`
          })
        )
      })

    // ---- the store -------------------------------------------------------

    const put = (rawKey: string, value: string, options?: PutOptions): Effect.Effect<PutResult, KvError> =>
      Effect.gen(function* () {
        const key = normalize(rawKey)
        if (key === "") return yield* Effect.fail(invalid("a key must not be empty"))
        const existing = yield* getEntry(key)
        const limit = options?.limit
        if (
          existing === undefined &&
          limit !== undefined &&
          (yield* countKeys(normalize(limit.prefix))) >= limit.max
        ) {
          return yield* Effect.fail(
            new KvError({
              store: STORE,
              reason: "LimitExceeded",
              detail: `${limit.prefix} already holds ${limit.max} keys`
            })
          )
        }
        if (options?.ttl !== undefined) {
          yield* acquire(key, value, sessionTtlMillis(options.ttl))
        } else if (existing?.session !== undefined && isOurs(existing.session)) {
          // Write and let go, so the key outlives our session.
          yield* plainPut(key, value, { release: existing.session })
        } else {
          // Another session's key would die with it; a put without a TTL is for good.
          if (existing?.session !== undefined) yield* deleteKey(key)
          yield* plainPut(key, value)
        }
        return existing === undefined ? "created" : "updated"
      })

    const remove = (rawKey: string) =>
      Effect.gen(function* () {
        const key = normalize(rawKey)
        if (key === "") return false
        const existing = yield* getEntry(key)
        yield* deleteKey(key)
        return existing !== undefined
      })

    const deletePrefix = (rawPrefix: string) =>
      Effect.gen(function* () {
        const prefix = normalize(rawPrefix)
        const count = yield* countKeys(prefix)
        const path = kvPath(prefix)
        yield* Effect.flatMap(request("DELETE", path, { query: { recurse: true } }), (reply) =>
          decision("DELETE", path, reply)
        )
        return count
      })

    const list = (prefix: string) => fetch(normalize(prefix))

    const watch = (rawPrefix: string): Stream.Stream<KvSnapshot, KvError> =>
      Stream.suspend(() => {
        const prefix = normalize(rawPrefix)
        /** The index to block on; 0 asks for an answer at once. */
        let waitIndex = 0
        /** Consul's index of the last snapshot emitted. */
        let seen = -1
        /** The last index emitted, and the shift that keeps it growing after a reset. */
        let emitted = 0
        let shift = 0
        let started = false

        const poll: Effect.Effect<Option.Option<KvSnapshot>, KvError> = Effect.suspend(() => {
          const blocking = waitIndex > 0
          return Effect.map(fetch(prefix, blocking ? { index: waitIndex } : undefined), (snapshot) => {
            if (blocking && snapshot.index < waitIndex) {
              // The index went backwards: start over with a query that answers at once.
              waitIndex = 0
              return Option.none()
            }
            waitIndex = snapshot.index
            if (snapshot.index === seen) return Option.none()
            seen = snapshot.index
            if (snapshot.index + shift <= emitted) shift = emitted + 1 - snapshot.index
            emitted = snapshot.index + shift
            return Option.some({ pairs: snapshot.pairs, index: emitted })
          })
        })

        const step = Effect.suspend(() =>
          started
            ? poll.pipe(
                Effect.tapError((error) =>
                  Effect.zipRight(
                    Effect.sync(() => {
                      // After a failure the server may be a new one: read at once.
                      waitIndex = 0
                    }),
                    Effect.logWarning(`watching ${prefix} on Consul failed, retrying: ${error.message}`)
                  )
                ),
                Effect.retry(retrySchedule)
              )
            : Effect.tap(poll, () =>
                Effect.sync(() => {
                  started = true
                })
              )
        )
        return Stream.repeatEffect(step).pipe(Stream.filterMap((x) => x))
      })

    return { put, delete: remove, deletePrefix, list, watch } satisfies KvStoreShape
  })

export const layer = (config: ConsulConfig): Layer.Layer<KvStore, KvError> =>
  Layer.scoped(KvStore, make(config))
