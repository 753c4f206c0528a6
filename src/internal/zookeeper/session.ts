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

export const make = (config: SessionConfig) =>
  Effect.gen(function* () {
    const { sessionTimeout: asked, timeout } = config
    const connection = config.hosts.join(",")
    const where = `ZooKeeper at ${connection}`
    const fibers = yield* FiberSet.make()
    const fork = yield* FiberSet.runtime(fibers)<never>()
    const log = (effect: Effect.Effect<void>) => void fork(effect)
    // A handshake takes milliseconds; give up on a silent one well within an operation's bound.
    const handshakeMs = Math.max(1000, Math.round(Duration.toMillis(timeout) / 2))

    let client!: ZkClient
    let closed = false
    let connected = false
    /** Counts connections, so a TTL can tell whether it ran wholly while connected. */
    let connections = 0
    /** Notified on every connection: `run` waits on it, and watches read again. */
    const signal = ChangeSignal.make()
    let session: Buffer | undefined
    let negotiated: number | undefined
    let timeoutReported = false
    /** Runs after a new session replaced an expired one (the store re-creates its ephemeral nodes). */
    let onNewSession: Effect.Effect<void> = Effect.void

    const timeoutNote = (n: number) =>
      `${where} negotiated a session timeout of ${n}ms (asked ${asked}ms): ` +
      `entries of a node that stops vanish after about ${Math.round(n / 1000)}s`

    const open = () => {
      const c = zookeeper.createClient(connection, { sessionTimeout: asked, spinDelay: 250, retries: 0 })
      guard(c.connectionManager, handshakeMs)
      client = c
      c.on("connected", () => {
        if (c !== client || closed) return
        const id = c.getSessionId()
        const fresh = session !== undefined && !session.equals(id)
        session = id
        connected = true
        connections++
        const n = c.getSessionTimeout()
        if (n !== negotiated && Math.abs(n - asked) >= 1000) log(Effect.logDebug(timeoutNote(n)))
        negotiated = n
        if (fresh) log(onNewSession)
        signal.unsafeNotify()
      })
      c.on("disconnected", () => {
        if (c === client && !closed) connected = false
      })
      c.on("expired", () => {
        if (c !== client || closed) return
        log(Effect.logWarning(`${where}: the session expired; opening a new one and re-creating our entries`))
        connected = false
        c.close()
        open()
      })
      c.on("authenticationFailed", () => {
        if (c === client && !closed) log(Effect.logError(`${where}: authentication failed`))
      })
      c.connect()
    }

    // Closing the session removes our ephemeral znodes, as a leave should. node-zookeeper-client's `close` only
    // queues the request, so the release waits for ZooKeeper's answer (it then drops the connection, which the
    // client reports as `disconnected`): without that, a reader right after the close still saw the znodes
    // (14 of 60 times), and a process exiting at once could leave them until the session timed out.
    yield* Effect.acquireRelease(Effect.sync(open), () =>
      Effect.async<void>((resume) => {
        closed = true
        if (connected) client.on("disconnected", () => resume(Effect.void))
        try {
          client.close()
        } catch {
          // node-zookeeper-client throws when closed before its socket exists: there is no session to close yet.
        }
        if (!connected) resume(Effect.void)
      }).pipe(Effect.interruptible, Effect.timeout(timeout), Effect.ignore)
    )

    const awaitConnected: Effect.Effect<void> = Effect.suspend(() => {
      if (connected) return Effect.void
      return Effect.zipRight(signal.awaitChange(signal.version()), awaitConnected)
    })

    const reasonOf = (code: number) =>
      code === Code.CONNECTION_LOSS || code === Code.SESSION_EXPIRED
        ? ("Unavailable" as const)
        : code === Code.OPERATION_TIMEOUT
          ? ("Timeout" as const)
          : ("BadResponse" as const)

    /** Waits for a connection, runs `effect`, maps its failure, all bounded by `timeout`. */
    const run = <A>(what: string, effect: Effect.Effect<A, ZkFailure | KvError>): Effect.Effect<A, KvError> =>
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
            connected
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

    return {
      where,
      run,
      invalid,
      fork,
      signal,
      sessionId: () => client.getSessionId(),
      isConnected: () => connected,
      connections: () => connections,
      setOnNewSession: (effect: Effect.Effect<void>) => void (onNewSession = effect),
      /** Once, at the first entry put with a TTL: only then does the session timeout matter to the user. */
      reportTimeout: () => {
        if (timeoutReported || negotiated === undefined || Math.abs(negotiated - asked) < 1000) return
        timeoutReported = true
        log(Effect.logInfo(timeoutNote(negotiated)))
      },
      ...Calls.make(() => client)
    }
  })

export type Session = Effect.Effect.Success<ReturnType<typeof make>>
