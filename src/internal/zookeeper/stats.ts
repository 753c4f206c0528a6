/**
 * The ZooKeeper store's totals, for tools and metrics (not a hot path: it
 * reads every znode, one request each). A key is a znode that holds data
 * (directories made on the way hold none, as in `writes.ts`); a cluster is a
 * top-level znode with at least one key below it. ZooKeeper's own
 * `/zookeeper` tree is left out.
 */
import { Effect, Option } from "effect"
import type { KvError } from "../../KvStore.js"
import { child } from "./paths.js"
import { orNone, type Session, type ZkFailure } from "./session.js"

export interface ZookeeperStats {
  readonly entries: number
  readonly clusters: number
}

/** Reads at once per level: enough to overlap round trips without flooding the server. */
const CONCURRENCY = 8

export const make = (session: Session): Effect.Effect<ZookeeperStats, KvError> => {
  const { getChildren, getData } = session

  /** Keys at `path` itself (0 or 1) and below it. */
  const keysAt = (path: string): Effect.Effect<{ self: number; below: number }, ZkFailure> =>
    Effect.gen(function* () {
      const node = yield* orNone(getData(path))
      if (Option.isNone(node)) return { self: 0, below: 0 }
      const self = node.value.data == null ? 0 : 1
      if (node.value.stat.numChildren === 0) return { self, below: 0 }
      const kids = yield* orNone(getChildren(path))
      const names = Option.isSome(kids) ? kids.value.children : []
      const counts = yield* Effect.forEach(names, (name) => keysAt(child(path, name)), {
        concurrency: CONCURRENCY
      })
      return { self, below: counts.reduce((n, c) => n + c.self + c.below, 0) }
    })

  return session.run(
    "count keys",
    Effect.gen(function* () {
      const { children } = yield* getChildren("/")
      const tops = yield* Effect.forEach(
        children.filter((name) => name !== "zookeeper"),
        (name) => keysAt(child("/", name)),
        { concurrency: CONCURRENCY }
      )
      return {
        entries: tops.reduce((n, c) => n + c.self + c.below, 0),
        clusters: tops.filter((c) => c.below > 0).length
      }
    })
  )
}
