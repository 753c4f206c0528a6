/** The ZooKeeper calls the store makes, as Effects that fail with the call's result code. */
import { Data, Effect, Option } from "effect"
import type {
  Client as ZkClient,
  Exception as ZkException,
  Stat as ZkStat,
  Watcher
} from "node-zookeeper-client"
import zookeeper from "node-zookeeper-client"
import { Code } from "./paths.js"

/** A failed ZooKeeper call, before it becomes a `KvError`. */
export class ZkFailure extends Data.TaggedError("ZkFailure")<{
  readonly code: number
  readonly text: string
}> {}

/** `Some` of the result, `None` when the znode does not exist. */
export const orNone = <A, R>(effect: Effect.Effect<A, ZkFailure, R>) =>
  effect.pipe(
    Effect.map(Option.some),
    Effect.catchIf(
      (f) => f.code === Code.NO_NODE,
      () => Effect.succeed(Option.none<A>())
    )
  )

/** The calls on whichever client is current (a new one replaces it after a session expires). */
export const make = (current: () => ZkClient) => {
  const client = current
  const call = <A>(f: (c: ZkClient, done: (error: ZkException | null, a: A) => void) => void) =>
    Effect.async<A, ZkFailure>((resume) => {
      try {
        f(client(), (error, a) =>
          resume(
            error
              ? Effect.fail(new ZkFailure({ code: error.getCode(), text: error.message }))
              : Effect.succeed(a)
          )
        )
      } catch (error) {
        // The library validates paths by throwing.
        resume(Effect.fail(new ZkFailure({ code: Code.BAD_ARGUMENTS, text: String(error) })))
      }
    })

  return {
    getData: (path: string, watcher?: Watcher) =>
      call<{ data: Buffer | null | undefined; stat: ZkStat }>((c, done) =>
        c.getData(path, watcher, (e, data, stat) => done(e, { data, stat }))
      ),
    getChildren: (path: string, watcher?: Watcher) =>
      call<{ children: Array<string>; stat: ZkStat }>((c, done) =>
        c.getChildren(path, watcher, (e, children, stat) => done(e, { children, stat }))
      ),
    exists: (path: string, watcher?: Watcher) =>
      call<ZkStat | null>((c, done) => c.exists(path, watcher, done)),
    create: (path: string, value: string, ephemeral: boolean) =>
      call<string>((c, done) =>
        c.create(
          path,
          Buffer.from(value),
          ephemeral ? zookeeper.CreateMode.EPHEMERAL : zookeeper.CreateMode.PERSISTENT,
          done
        )
      ),
    setData: (path: string, value: string, version: number) =>
      call<ZkStat>((c, done) => c.setData(path, Buffer.from(value), version, done)),
    remove: (path: string, version: number) =>
      call<void>((c, done) => c.remove(path, version, (e) => done(e, undefined))),
    mkdirp: (path: string) => call<string>((c, done) => c.mkdirp(path, done))
  }
}
