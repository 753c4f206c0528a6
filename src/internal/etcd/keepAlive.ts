/**
 * Lease keep-alives over one shared gRPC stream.
 *
 * A keep-alive resets a lease to its granted TTL. In etcd 3.4 the leader
 * answers it from memory: it is not a raft write, so refreshing a live entry
 * this way costs no fsync. The answer carries etcd's revision, which tells
 * whether anything at all was written since. etcd answers one stream in order;
 * answers are still matched by lease id. A broken stream fails what waits on
 * it, and the next refresh opens a new one.
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

type KeepAliveStream = IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse>

/** A lease's TTL after the keep-alive (0: the lease is gone), and etcd's revision when it answered. */
export interface Renewed {
  readonly ttl: number
  readonly revision: string
}

interface Waiter {
  readonly resolve: (renewed: Renewed) => void
  readonly reject: (error: Error) => void
}

export interface KeepAlive {
  /** Resets lease `id` to its granted TTL. */
  readonly refresh: (id: string) => Effect.Effect<Renewed, KvError>
}

export const make = (connection: Connection): Effect.Effect<KeepAlive, never, Scope.Scope> =>
  Effect.gen(function* () {
    let current: Promise<KeepAliveStream> | undefined
    const waiting = new Map<string, Array<Waiter>>()

    const failAll = (error: Error) => {
      const all = [...waiting.values()].flat()
      waiting.clear()
      for (const w of all) w.reject(error)
    }

    const open = (): Promise<KeepAliveStream> => {
      const opened = connection.client.leaseClient.leaseKeepAlive().then((stream) => {
        const broken = (error: Error) => {
          if (current === opened) current = undefined
          failAll(error)
        }
        stream.on("data", (res) => {
          const queue = waiting.get(res.ID)
          const w = queue?.shift()
          if (queue?.length === 0) waiting.delete(res.ID)
          w?.resolve({ ttl: Number(res.TTL), revision: res.header.revision })
        })
        stream.on("error", (error) => broken(castGrpcError(error)))
        stream.on("end", () => broken(new Error("the keep-alive stream ended")))
        return stream
      })
      opened.catch(() => {
        if (current === opened) current = undefined
      })
      return opened
    }

    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        const stream = current
        current = undefined
        void stream?.then(
          (s) => s.cancel(),
          () => undefined
        )
      })
    )

    /**
     * A stream that let a keep-alive time out is dropped: on a member cut off without a reset it would stay
     * silent until gRPC's keep-alive notices (20 s). Its waiters fail at once (their puts read and write
     * instead) and the next keep-alive opens a stream, through the pool's choice of a member.
     */
    const drop = (stream: Promise<KeepAliveStream>) =>
      Effect.sync(() => {
        if (current !== stream) return
        current = undefined
        failAll(new Error("a keep-alive went unanswered: the stream was dropped"))
        void stream.then(
          (s) => s.cancel(),
          () => undefined
        )
      })

    const refresh = (id: string) =>
      Effect.suspend(() => {
        const stream = (current ??= open())
        // An attempt's share of the bound: a put whose keep-alive met a silent member still has time to
        // read and write through another.
        return connection
          .call(
            `keep lease ${id} alive`,
            () =>
              new Promise<Renewed>((resolve, reject) => {
                stream.then((s) => {
                  const queue = waiting.get(id) ?? []
                  queue.push({ resolve, reject })
                  waiting.set(id, queue)
                  s.write({ ID: id })
                }, reject)
              })
          )
          .pipe(
            within(connection.attemptMs),
            Effect.tapError((error) => (error.reason === "Timeout" ? drop(stream) : Effect.void))
          )
      })

    return { refresh }
  })
