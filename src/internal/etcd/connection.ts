/**
 * The etcd client of one store: endpoints, TLS, fault handling, the key
 * namespace, and `call`, which bounds every request and maps its failure.
 *
 * Which endpoint an attempt goes to, when it is retried on another and when
 * a failing one is skipped is `faultHandling.ts`. Every call is bounded by
 * `timeout`, or by the deadline of the operation it belongs to (`within`),
 * so a dead or silent endpoint fails in bounded time with a clear error.
 */
import { Duration, Effect, FiberRef, type Scope } from "effect"
import { Etcd3, type IOptions, isRecoverableError } from "etcd3"
import { KvError } from "../../KvStore.js"
import * as TlsFiles from "../tlsFiles.js"
import * as FaultHandling from "./faultHandling.js"

export const STORE = "etcd"

/**
 * When the operation a call belongs to must be done (ms since the epoch), if it has one bound for all its
 * calls (`within`); each call is bounded by the sooner of that and the store's timeout.
 */
const deadline = FiberRef.unsafeMake<number | undefined>(undefined)

/**
 * Bounds every call `effect` makes, together, by `ms`: a put that takes several calls answers within the
 * timeout. A fiber-local deadline, not `Effect.timeout`, which forks a racing fiber per operation.
 */
export const within =
  (ms: number) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.flatMap(FiberRef.get(deadline), (outer) =>
      Effect.locally(effect, deadline, Math.min(outer ?? Infinity, Date.now() + ms))
    )

/** `effect` free of the deadline of the operation that started it: the store's own work that outlives one request. */
export const unbounded = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.locally(effect, deadline, undefined)

export interface ConnectionConfig {
  readonly endpoints: ReadonlyArray<string>
  readonly tls?: TlsFiles.TlsFiles
  readonly prefix?: string
  readonly timeout: Duration.Duration
}

export interface Connection {
  readonly client: Etcd3
  /**
   * A client of one member alone (`host` one of `hosts`), made when first asked for: for what must reach a
   * given member, such as keep-alives, which etcd answers cheaply only on its leader (`leader.ts`).
   */
  readonly memberClient: (host: string) => Etcd3
  /**
   * A client that sends each request to one member only, never again to another after a transport failure:
   * for a delete, or a put outside a transaction. When a member passed such a write on to the leader and then
   * failed (killed, cut off), the write applied and only its answer was lost; sent again it would find its
   * keys gone (or written) and misreport what it did: 404 for an entry it deleted, "updated" for a key it
   * created. Its failure is an unknown outcome (a 503), never a wrong answer (`faultHandling.ts`).
   */
  readonly onceClient: Etcd3
  readonly hosts: ReadonlyArray<string>
  /** What one attempt on one member gets of the timeout (the rest is for trying another). */
  readonly attemptMs: number
  /** `etcd at h1,h2`, for messages. */
  readonly where: string
  /** The prefix every key is stored under (`swarm/`, or empty), for messages. */
  readonly namespace: string
  readonly fullKey: (key: string) => Buffer
  readonly userKey: (key: Buffer) => string
  readonly prefixRange: (prefix: string) => { readonly key: Buffer; readonly range_end: Buffer }
  /**
   * A key the store keeps for itself under the namespace (a commit fence, `groupCommit.ts`). It starts with a
   * NUL byte, which no entry's key does, so lists and totals can tell it apart (`isReserved`).
   */
  readonly reservedKey: (name: string) => Buffer
  readonly isReserved: (fullKey: Buffer) => boolean
  /**
   * The newest revision any answer to `call` carried (0 before the first): etcd had applied at least this
   * much before anything sent from now on. A write compares its keys with it, so a late copy of the write
   * cannot undo one acknowledged after it (`groupCommit.ts`, `writes.ts`).
   */
  readonly revision: () => bigint
  /** One etcd request, bounded by the timeout, its failure a `KvError` naming `what` and the endpoints. */
  readonly call: <A>(what: string, f: () => Promise<A>) => Effect.Effect<A, KvError>
}

type Backoff = NonNullable<NonNullable<IOptions["faultHandling"]>["watchBackoff"]>

/** Watch streams are re-opened by the store, not by etcd3's own backoff; keep its timer short. */
const shortBackoff: Backoff = { duration: 250, next: () => shortBackoff } as unknown as Backoff

/** The end of etcd's prefix range: the prefix with its last byte incremented. */
export const prefixEnd = (prefix: Buffer): Buffer => {
  const end = Buffer.from(prefix)
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i] = end[i]! + 1
      return end.subarray(0, i + 1)
    }
  }
  return Buffer.from([0]) // every key
}

export const endpointUrl = (endpoint: string, tls: boolean): string =>
  /^https?:\/\//i.test(endpoint) ? endpoint : `${tls ? "https" : "http"}://${endpoint}`

const normalizePrefix = (prefix: string | undefined): string => {
  const trimmed = (prefix ?? "").replace(/^\/+|\/+$/g, "")
  return trimmed === "" ? "" : trimmed + "/"
}

const invalid = (detail: string, cause?: unknown) =>
  new KvError({ store: STORE, reason: "Invalid", detail, cause })

const credentialsOf = (tls: TlsFiles.TlsFiles) =>
  TlsFiles.read(tls).pipe(
    Effect.mapError((error) => invalid(error.detail, error)),
    // grpc-js takes `null` roots to mean the system's trusted CAs.
    Effect.map((pem) => ({
      rootCertificate: (pem.ca ?? null) as Buffer,
      ...(pem.key ? { privateKey: pem.key } : {}),
      ...(pem.cert ? { certChain: pem.cert } : {})
    }))
  )

const reasonOf = (cause: unknown) => {
  if (!(cause instanceof Error)) return "BadResponse" as const
  const name = cause.constructor.name
  if (name === "GRPCDeadlineExceededError") return "Timeout" as const
  const unavailable =
    isRecoverableError(cause) ||
    cause instanceof FaultHandling.EndpointSkipped ||
    name === "GRPCUnavailableError"
  return unavailable ? ("Unavailable" as const) : ("BadResponse" as const)
}

/** The newest revision etcd answered with, kept from every answer that carries one (`Connection.revision`). */
const revisionTracker = () => {
  let newest = 0n
  return {
    newest: () => newest,
    saw: (answer: unknown) => {
      const revision = (answer as { readonly header?: { readonly revision?: unknown } } | undefined)?.header
        ?.revision
      if (typeof revision === "string" && BigInt(revision) > newest) newest = BigInt(revision)
    }
  }
}

/** `Connection.call`: each request bounded by the timeout (or the operation's deadline), its failure mapped. */
const caller = (where: string, timeout: Duration.Duration, saw: (answer: unknown) => void) => {
  const timeoutMs = Duration.toMillis(timeout)
  const failed = (what: string, cause: unknown) => {
    const reason = reasonOf(cause)
    const hint = reason === "BadResponse" ? "" : " (is etcd running and reachable there?)"
    const detail = `${what} on ${where}: ${TlsFiles.describe(cause)}${hint}`
    return new KvError({ store: STORE, reason, detail, cause })
  }
  const timedOut = (what: string) =>
    new KvError({
      store: STORE,
      reason: "Timeout",
      detail: `${what}: no answer from ${where} within ${Duration.format(timeout)}`
    })

  // A timer of its own rather than `Effect.timeoutFail`, which forks a racing fiber per call: measured,
  // that doubled the client-side CPU of an etcd request. Interruptible (an async effect), so the bound
  // holds even inside a finalizer, such as a leave while etcd is down.
  const bounded = <A>(what: string, f: () => Promise<A>, until: number | undefined) =>
    Effect.async<A, KvError>((resume) => {
      let settled = false
      const settle = (effect: Effect.Effect<A, KvError>) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        resume(effect)
      }
      const ms = until === undefined ? timeoutMs : Math.min(timeoutMs, until - Date.now())
      const timer = setTimeout(() => settle(Effect.fail(timedOut(what))), Math.max(0, ms))
      try {
        f().then(
          (a) => (saw(a), settle(Effect.succeed(a))),
          (cause: unknown) => settle(Effect.fail(failed(what, cause)))
        )
      } catch (cause) {
        settle(Effect.fail(failed(what, cause)))
      }
      return Effect.sync(() => {
        settled = true
        clearTimeout(timer)
      })
    })
  return <A>(what: string, f: () => Promise<A>): Effect.Effect<A, KvError> =>
    Effect.flatMap(FiberRef.get(deadline), (until) => bounded(what, f, until))
}

export const make = (config: ConnectionConfig): Effect.Effect<Connection, KvError, Scope.Scope> =>
  Effect.gen(function* () {
    if (config.endpoints.length === 0) return yield* invalid("no etcd endpoint given")
    const { timeout } = config
    const hosts = config.endpoints.map((e) => endpointUrl(e, config.tls !== undefined))
    const attemptMs = FaultHandling.attemptMillis(Duration.toMillis(timeout), hosts.length)
    const endpoints = FaultHandling.endpoints(hosts)
    const where = `etcd at ${config.endpoints.join(",")}`
    const namespace = normalizePrefix(config.prefix)
    const namespaceBytes = Buffer.byteLength(namespace)
    const credentials = config.tls ? yield* credentialsOf(config.tls) : undefined
    const clientOf = (hostsOf: ReadonlyArray<string>, attempts: number) =>
      new Etcd3({
        hosts: [...hostsOf],
        ...(credentials ? { credentials } : {}),
        grpcOptions: {
          // Reconnect quickly after an etcd restart instead of grpc's 1s..120s backoff.
          "grpc.initial_reconnect_backoff_ms": 100,
          "grpc.max_reconnect_backoff_ms": 1000,
          "grpc.use_local_subchannel_pool": 1,
          // Notice a silently dead peer under a long-lived watch.
          "grpc.keepalive_time_ms": 15_000,
          "grpc.keepalive_timeout_ms": 5_000
        },
        // An attempt gets part of the timeout, so a silent member leaves time to retry on another.
        defaultCallOptions: FaultHandling.attemptDeadline(Duration.toMillis(timeout), hosts.length),
        faultHandling: {
          host: endpoints.of,
          global: FaultHandling.retrying(attempts),
          watchBackoff: shortBackoff
        }
      })
    const clientTrying = (attempts: number) =>
      Effect.acquireRelease(
        Effect.try({
          try: () => clientOf(hosts, attempts),
          catch: (cause) => invalid(`bad etcd endpoints: ${TlsFiles.describe(cause)}`, cause)
        }),
        (client) => Effect.sync(() => client.close())
      )
    const client = yield* clientTrying(Math.max(2, hosts.length + 1))
    const onceClient = yield* clientTrying(1)
    const members = new Map<string, Etcd3>()
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        for (const member of members.values()) member.close()
        members.clear()
      })
    )
    const memberClient = (host: string) => {
      let member = members.get(host)
      if (member === undefined) {
        member = clientOf([host], 1)
        members.set(host, member)
      }
      return member
    }

    const revisions = revisionTracker()
    const call = caller(where, timeout, revisions.saw)

    return {
      client,
      memberClient,
      onceClient,
      hosts,
      attemptMs,
      where,
      namespace,
      fullKey: (key) => Buffer.from(namespace + key),
      userKey: (key) => key.toString().slice(namespace.length),
      prefixRange: (prefix) => {
        const start = Buffer.from(namespace + prefix)
        return { key: start, range_end: prefixEnd(start) }
      },
      reservedKey: (name) => Buffer.from(`${namespace}\u0000${name}`),
      isReserved: (key) => key.length > namespaceBytes && key[namespaceBytes] === 0,
      revision: revisions.newest,
      call
    }
  })
