/**
 * Lease keep-alives over one shared gRPC stream, to etcd's leader.
 *
 * A keep-alive resets a lease to its granted TTL. In etcd 3.4 the leader
 * answers it from memory: it is not a raft write, so refreshing a live entry
 * this way costs no fsync. A follower forwards each one to the leader, which
 * costs etcd several times more, so the stream is opened on the endpoint that
 * says it leads (`leader.ts`). An answer in another raft term retires the
 * stream: the refreshes after it open one on whoever leads then. Without a
 * known leader the stream goes through the pool's choice of a member and is
 * retired after `UNAIMED_MS`, to look again.
 *
 * The answer carries etcd's revision, which tells whether anything at all was
 * written since. etcd answers one stream in order; answers are still matched
 * by lease id. A broken stream fails what waits on it, and the next refresh
 * opens a new one.
 */
import { Effect, type Scope } from "effect"
import {
  castGrpcError,
  type IDuplexStream,
  type ILeaseKeepAliveRequest,
  type ILeaseKeepAliveResponse
} from "etcd3"
import type { KvError } from "../../KvStore.js"
import { type Connection, within } from "./connection.js"
import * as Leader from "./leader.js"

type KeepAliveStream = IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse>

/** How long a stream opened without a known leader is used before looking for one again. */
const UNAIMED_MS = 10_000

/** A lease's TTL after the keep-alive (0: the lease is gone), and etcd's revision when it answered. */
export interface Renewed {
  readonly ttl: number
  readonly revision: string
}

interface Waiter {
  readonly resolve: (renewed: Renewed) => void
  readonly reject: (error: Error) => void
}

/** One stream and the keep-alives waiting on it. */
interface Line {
  readonly stream: Promise<KeepAliveStream>
  readonly waiting: Map<string, Array<Waiter>>
  /** No new keep-alive goes on it; it is cancelled once the last one waiting is answered. */
  retired: boolean
}

export interface KeepAlive {
  /** Resets lease `id` to its granted TTL. */
  readonly refresh: (id: string) => Effect.Effect<Renewed, KvError>
  /** The endpoint the current stream was opened on, when it was aimed at the leader (for tests). */
  readonly aimedAt: () => string | undefined
}

const failAll = (line: Line, error: Error) => {
  const all = [...line.waiting.values()].flat()
  line.waiting.clear()
  for (const w of all) w.reject(error)
}

const cancel = (line: Line) =>
  void line.stream.then(
    (s) => s.cancel(),
    () => undefined
  )

/** `line` takes no keep-alive any more, and what waits on it fails with `error`. */
const shut = (line: Line, error: Error) => {
  line.retired = true
  failAll(line, error)
}

/** No new keep-alive goes on `line`; it closes once nothing waits on it. */
const retire = (line: Line) => {
  if (line.retired) return
  line.retired = true
  if (line.waiting.size === 0) cancel(line)
}

/**
 * A line over the stream `connected` gives. `stale` tells from an answer's raft term that the stream is no
 * longer on the leader; `closed` is called when the line must not take new keep-alives (stale, broken or
 * failed to open).
 */
const openLine = (
  connected: Promise<{ readonly stream: KeepAliveStream; readonly stale: (term: string) => boolean }>,
  closed: (line: Line) => void
): Line => {
  const waiting = new Map<string, Array<Waiter>>()
  const broken = (error: Error) => {
    closed(line)
    shut(line, error)
  }
  const stream = connected.then(({ stream, stale }) => {
    stream.on("data", (res) => {
      const queue = waiting.get(res.ID)
      const w = queue?.shift()
      if (queue?.length === 0) waiting.delete(res.ID)
      if (stale(res.header.raft_term)) {
        closed(line)
        retire(line)
      } else if (line.retired && waiting.size === 0) cancel(line)
      w?.resolve({ ttl: Number(res.TTL), revision: res.header.revision })
    })
    stream.on("error", (error) => broken(castGrpcError(error)))
    stream.on("end", () => broken(new Error("the keep-alive stream ended")))
    return stream
  })
  const line: Line = { stream, waiting, retired: false }
  stream.catch((error: unknown) => broken(error instanceof Error ? error : new Error(String(error))))
  return line
}

/** Sends one keep-alive on `line` and waits for its answer. */
const send = (line: Line, id: string) =>
  new Promise<Renewed>((resolve, reject) => {
    line.stream.then((s) => {
      // Broken, or retired and closed, since this refresh took it: nothing would answer.
      if (line.retired && line.waiting.size === 0) return reject(new Error("the keep-alive stream closed"))
      const queue = line.waiting.get(id) ?? []
      queue.push({ resolve, reject })
      line.waiting.set(id, queue)
      s.write({ ID: id })
    }, reject)
  })

export const make = (connection: Connection): Effect.Effect<KeepAlive, never, Scope.Scope> =>
  Effect.gen(function* () {
    let current: Line | undefined
    let aimedAt: string | undefined
    const aiming = connection.hosts.length > 1
    const closed = (line: Line) => {
      if (current === line) current = undefined
    }

    /** The stream on the leader when one is known within an attempt's time, else on the pool's choice. */
    const connect = async () => {
      const openedAt = Date.now()
      const leader = aiming ? await Leader.find(connection, connection.attemptMs) : undefined
      aimedAt = leader?.host
      const client = leader ? connection.memberClient(leader.host) : connection.client
      const stream = await client.leaseClient.leaseKeepAlive()
      const stale = (term: string) =>
        leader ? term !== leader.term : aiming && Date.now() - openedAt > UNAIMED_MS
      return { stream, stale }
    }

    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        const line = current
        current = undefined
        if (line) cancel(line)
      })
    )

    /**
     * A stream that let a keep-alive time out is dropped: on a member cut off without a reset it would stay
     * silent until gRPC's keep-alive notices (20 s). Its waiters fail at once (their puts read and write
     * instead) and the next keep-alive opens a stream, on the leader as seen then.
     */
    const drop = (line: Line) =>
      Effect.sync(() => {
        closed(line)
        shut(line, new Error("a keep-alive went unanswered: the stream was dropped"))
        cancel(line)
      })

    const refresh = (id: string) =>
      Effect.suspend(() => {
        const line = (current ??= openLine(connect(), closed))
        // An attempt's share of the bound: a put whose keep-alive met a silent member still has time to
        // read and write through another.
        return connection
          .call(`keep lease ${id} alive`, () => send(line, id))
          .pipe(
            within(connection.attemptMs),
            Effect.tapError((error) => (error.reason === "Timeout" ? drop(line) : Effect.void))
          )
      })

    return { refresh, aimedAt: () => aimedAt }
  })
