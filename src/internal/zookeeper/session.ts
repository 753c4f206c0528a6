/**
 * The ZooKeeper connection of one store: one client per session, a new one
 * after the session expires, the calls as Effects, and `run`, which waits for
 * a connection and bounds each operation.
 */
import { Duration, Effect, FiberSet } from "effect"
import zookeeper, { type Client as ZkClient } from "node-zookeeper-client"
import { KvError } from "../../KvStore.js"
import * as ChangeSignal from "../changeSignal.js"
import * as Calls from "./calls.js"
import { orNone, ZkFailure } from "./calls.js"
import { guard } from "./guard.js"
import { Code } from "./paths.js"

export const STORE = "zk"

export { orNone, ZkFailure }

export interface SessionConfig {
  readonly hosts: ReadonlyArray<string>
  /** Asked of ZooKeeper, in ms. */
  readonly sessionTimeout: number
  readonly timeout: Duration.Duration
}

const invalid = (detail: string) => new KvError({ store: STORE, reason: "Invalid", detail })

/** The connection's state, changed by the client's events. */
class Link {
  client!: ZkClient
  closed = false
  connected = false
  /** Counts connections, so a TTL can tell whether it ran wholly while connected. */
  connections = 0
  /** Notified on every connection: `run` waits on it, and watches read again. */
  readonly signal = ChangeSignal.make()
  session: Buffer | undefined
  negotiated: number | undefined
  timeoutReported = false
  /** Runs after a new session replaced an expired one (the store re-creates its ephemeral nodes). */
  onNewSession: Effect.Effect<void> = Effect.void
}

const whereOf = (config: SessionConfig) => `ZooKeeper at ${config.hosts.join(",")}`

const timeoutNote = (config: SessionConfig, n: number) =>
  `${whereOf(config)} negotiated a session timeout of ${n}ms (asked ${config.sessionTimeout}ms): ` +
  `entries of a node that stops vanish after about ${Math.round(n / 1000)}s`

/** Opens a client on `link`, and a new one whenever its session expires. */
const opener = (config: SessionConfig, link: Link, log: (effect: Effect.Effect<void>) => void) => {
  const { sessionTimeout: asked, timeout } = config
  const where = whereOf(config)
  // A handshake takes milliseconds; give up on a silent one well within an operation's bound.
  const handshakeMs = Math.max(1000, Math.round(Duration.toMillis(timeout) / 2))
  const open = () => {
    const c = zookeeper.createClient(config.hosts.join(","), {
      sessionTimeout: asked,
      spinDelay: 250,
      retries: 0
    })
    guard(c.connectionManager, handshakeMs)
    link.client = c
    c.on("connected", () => {
      if (c !== link.client || link.closed) return
      const id = c.getSessionId()
      const fresh = link.session !== undefined && !link.session.equals(id)
      link.session = id
      link.connected = true
      link.connections++
      const n = c.getSessionTimeout()
      if (n !== link.negotiated && Math.abs(n - asked) >= 1000) log(Effect.logDebug(timeoutNote(config, n)))
      link.negotiated = n
      if (fresh) log(link.onNewSession)
      link.signal.unsafeNotify()
    })
    c.on("disconnected", () => {
      if (c === link.client && !link.closed) link.connected = false
    })
    c.on("expired", () => {
      if (c !== link.client || link.closed) return
      log(Effect.logWarning(`${where}: the session expired; opening a new one and re-creating our entries`))
      link.connected = false
      c.close()
      open()
    })
    c.on("authenticationFailed", () => {
      if (c === link.client && !link.closed) log(Effect.logError(`${where}: authentication failed`))
    })
    c.connect()
  }
  return open
}

// Closing the session removes our ephemeral znodes, as a leave should. node-zookeeper-client's `close` only
// queues the request, so the release waits for ZooKeeper's answer (it then drops the connection, which the
// client reports as `disconnected`): without that, a reader right after the close still saw the znodes
// (14 of 60 times), and a process exiting at once could leave them until the session timed out.
const close = (link: Link, timeout: Duration.Duration) =>
  Effect.async<void>((resume) => {
    link.closed = true
    if (link.connected) link.client.on("disconnected", () => resume(Effect.void))
    try {
      link.client.close()
    } catch {
      // node-zookeeper-client throws when closed before its socket exists: there is no session to close yet.
    }
    if (!link.connected) resume(Effect.void)
  }).pipe(Effect.interruptible, Effect.timeout(timeout), Effect.ignore)

const reasonOf = (code: number) =>
  code === Code.CONNECTION_LOSS || code === Code.SESSION_EXPIRED
    ? ("Unavailable" as const)
    : code === Code.OPERATION_TIMEOUT
      ? ("Timeout" as const)
      : ("BadResponse" as const)

/** Waits for a connection, runs `effect`, maps its failure, all bounded by `timeout`. */
const runner = (config: SessionConfig, link: Link) => {
  const { timeout } = config
  const where = whereOf(config)
  const awaitConnected: Effect.Effect<void> = Effect.suspend(() => {
    if (link.connected) return Effect.void
    return Effect.zipRight(link.signal.awaitChange(link.signal.version()), awaitConnected)
  })
  return <A>(what: string, effect: Effect.Effect<A, ZkFailure | KvError>): Effect.Effect<A, KvError> =>
    awaitConnected.pipe(
      Effect.zipRight(effect),
      // Abandonable even inside a finalizer (a leave while ZooKeeper is down), so the timeout holds.
      Effect.interruptible,
      Effect.mapError((failure) =>
        failure._tag === "KvError"
          ? failure
          : new KvError({
              store: STORE,
              reason: reasonOf(failure.code),
              detail: `${what} on ${where}: ${failure.text}`,
              cause: failure
            })
      ),
      Effect.timeoutFail({
        duration: timeout,
        onTimeout: () =>
          link.connected
            ? new KvError({
                store: STORE,
                reason: "Timeout",
                detail: `${what}: no answer from ${where} within ${Duration.format(timeout)}`
              })
            : new KvError({
                store: STORE,
                reason: "Unavailable",
                detail: `${what}: not connected to ${where} within ${Duration.format(timeout)} (is ZooKeeper running there?)`
              })
      })
    )
}

export const make = (config: SessionConfig) =>
  Effect.gen(function* () {
    const fibers = yield* FiberSet.make()
    const fork = yield* FiberSet.runtime(fibers)<never>()
    const log = (effect: Effect.Effect<void>) => void fork(effect)
    const link = new Link()
    yield* Effect.acquireRelease(Effect.sync(opener(config, link, log)), () => close(link, config.timeout))

    return {
      where: whereOf(config),
      run: runner(config, link),
      invalid,
      fork,
      signal: link.signal,
      sessionId: () => link.client.getSessionId(),
      isConnected: () => link.connected,
      connections: () => link.connections,
      setOnNewSession: (effect: Effect.Effect<void>) => void (link.onNewSession = effect),
      /** Once, at the first entry put with a TTL: only then does the session timeout matter to the user. */
      reportTimeout: () => {
        const n = link.negotiated
        if (link.timeoutReported || n === undefined || Math.abs(n - config.sessionTimeout) < 1000) return
        link.timeoutReported = true
        log(Effect.logInfo(timeoutNote(config, n)))
      },
      ...Calls.make(() => link.client)
    }
  })

export type Session = Effect.Effect.Success<ReturnType<typeof make>>
