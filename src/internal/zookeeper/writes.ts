/**
 * put, delete and deletePrefix over ZooKeeper. A put with a TTL makes an
 * EPHEMERAL znode of this store's session (its TTL is kept by `Owned`); one
 * without makes a persistent znode. Missing parents are created as persistent
 * znodes without data. A znode of the wrong kind, or another session's
 * ephemeral one, is replaced. Lost races (a concurrent writer) are retried.
 */
import { Effect, Option } from "effect"
import { KvError, type KvStoreShape, type PutOptions, type PutResult } from "../../KvStore.js"
import * as Owned from "./owned.js"
import { child, Code, keyToPath, NO_OWNER, parentOf, pathToKey, prefixToDirectory } from "./paths.js"
import { orNone, type Session, STORE, type ZkFailure } from "./session.js"

type Node = Effect.Effect.Success<ReturnType<Session["getData"]>>

/** Makes a path hold a value, ephemeral in this session or persistent, retrying lost races. */
const writer = (session: Session) => {
  const { getData, getChildren, create, setData, remove, mkdirp, invalid } = session

  const countUnder = (prefix: string) =>
    Effect.gen(function* () {
      const location = prefixToDirectory(prefix)
      if (location === undefined) return yield* invalid(`${prefix} is not a valid ZooKeeper prefix`)
      const listed = yield* orNone(getChildren(location.dir))
      return Option.match(listed, {
        onNone: () => 0,
        onSome: ({ children }) => children.filter((n) => n.startsWith(location.name)).length
      })
    })

  const checkRoom = (limit: PutOptions["limit"]): Effect.Effect<void, ZkFailure | KvError> =>
    Effect.gen(function* () {
      if (limit === undefined || (yield* countUnder(limit.prefix)) < limit.max) return
      return yield* new KvError({
        store: STORE,
        reason: "LimitExceeded",
        detail: `${limit.prefix} already holds ${limit.max} keys`
      })
    })

  /** An existing znode: its data set when it is of the right kind, else removed to be made anew ("again": a race). */
  const overwrite = (path: string, value: string, ephemeral: boolean, { data, stat }: Node) =>
    Effect.gen(function* () {
      const owner = stat.ephemeralOwner
      const right = ephemeral ? owner.equals(session.sessionId()) : owner.equals(NO_OWNER)
      if (right) {
        if (data != null && data.toString() === value) return "updated" as const
        const set = yield* Effect.either(setData(path, value, stat.version))
        if (set._tag === "Right") return "updated" as const
        if (set.left.code === Code.BAD_VERSION || set.left.code === Code.NO_NODE) return "again" as const
        return yield* set.left
      }
      // The wrong kind (or another session's ephemeral): replace it.
      const removed = yield* Effect.either(remove(path, stat.version))
      if (removed._tag === "Left" && removed.left.code !== Code.NO_NODE) {
        if (removed.left.code === Code.BAD_VERSION) return "again" as const
        return yield* removed.left
      }
      return "removed" as const
    })

  /** Creates the znode, and its missing parents (persistent, without data); "again" when another writer raced. */
  const createNode = (path: string, value: string, ephemeral: boolean) =>
    Effect.gen(function* () {
      let made = yield* Effect.either(create(path, value, ephemeral))
      if (made._tag === "Left" && made.left.code === Code.NO_NODE && parentOf(path) !== "/") {
        yield* mkdirp(parentOf(path))
        made = yield* Effect.either(create(path, value, ephemeral))
      }
      if (made._tag === "Right") return "made" as const
      if (made.left.code === Code.NODE_EXISTS || made.left.code === Code.NO_NODE) return "again" as const
      if (made.left.code === Code.NO_CHILDREN_FOR_EPHEMERALS) {
        return yield* invalid(`cannot put ${pathToKey(path)}: a parent is an ephemeral entry`)
      }
      return yield* made.left
    })

  /** Makes `path` hold `value`, ephemeral in this session when `ephemeral`. */
  return (
    path: string,
    value: string,
    ephemeral: boolean,
    limit: PutOptions["limit"]
  ): Effect.Effect<PutResult, ZkFailure | KvError> =>
    Effect.gen(function* () {
      let existed = false
      for (let attempt = 0; attempt < 8; attempt++) {
        const current = yield* orNone(getData(path))
        if (Option.isSome(current)) {
          existed = true
          const outcome = yield* overwrite(path, value, ephemeral, current.value)
          if (outcome === "updated") return outcome
          if (outcome === "again") continue
        } else yield* checkRoom(limit)
        if ((yield* createNode(path, value, ephemeral)) === "made") return existed ? "updated" : "created"
      }
      return yield* new KvError({
        store: STORE,
        reason: "Unavailable",
        detail: `put ${pathToKey(path)} on ${session.where}: kept racing with other writers`
      })
    })
}

/** delete and deletePrefix; what they remove is no longer owned. */
const removals = (session: Session, owned: ReturnType<typeof Owned.make>) => {
  const { getData, getChildren, remove, invalid } = session

  const removeTree = (path: string): Effect.Effect<number, ZkFailure> =>
    Effect.gen(function* () {
      const node = yield* orNone(getData(path))
      if (Option.isNone(node)) return 0
      let count = node.value.data == null ? 0 : 1
      if (node.value.stat.numChildren > 0) {
        const kids = yield* orNone(getChildren(path))
        for (const name of Option.isSome(kids) ? kids.value.children : []) {
          count += yield* removeTree(child(path, name))
        }
      }
      const removed = yield* Effect.either(remove(path, -1))
      if (removed._tag === "Left" && removed.left.code !== Code.NO_NODE) return yield* removed.left
      owned.disownTree(path)
      return count
    })

  const deleteKey = (key: string) =>
    Effect.suspend(() => {
      const path = keyToPath(key)
      if (path === undefined)
        return Effect.fail(invalid(`${JSON.stringify(key)} is not a valid ZooKeeper key`))
      owned.disown(path)
      return session.run(
        `delete ${key}`,
        remove(path, -1).pipe(
          Effect.as(true),
          Effect.catchIf(
            (f) => f.code === Code.NO_NODE,
            () => Effect.succeed(false)
          ),
          Effect.catchIf(
            (f) => f.code === Code.NOT_EMPTY,
            () => Effect.fail(invalid(`${key} has keys below it; use deletePrefix`))
          )
        )
      )
    })

  const deletePrefix = (prefix: string) =>
    Effect.suspend(() => {
      const location = prefixToDirectory(prefix)
      if (location === undefined) return Effect.fail(invalid(`${prefix} is not a valid ZooKeeper prefix`))
      return session.run(
        `delete ${prefix}*`,
        Effect.gen(function* () {
          const listed = yield* orNone(getChildren(location.dir))
          if (Option.isNone(listed)) return 0
          let count = 0
          for (const name of listed.value.children) {
            if (name.startsWith(location.name)) count += yield* removeTree(child(location.dir, name))
          }
          return count
        })
      )
    })

  return { delete: deleteKey, deletePrefix }
}

export const make = (session: Session): Pick<KvStoreShape, "put" | "delete" | "deletePrefix"> => {
  const write = writer(session)
  const owned = Owned.make(session, (path, value) => write(path, value, true, undefined))

  const put = (key: string, value: string, options?: PutOptions): Effect.Effect<PutResult, KvError> =>
    Effect.suspend(() => {
      const path = keyToPath(key)
      if (path === undefined)
        return Effect.fail(session.invalid(`${JSON.stringify(key)} is not a valid ZooKeeper key`))
      const ttl = options?.ttl
      return session.run(`put ${key}`, write(path, value, ttl !== undefined, options?.limit)).pipe(
        Effect.tap(() => {
          if (ttl === undefined) return Effect.sync(() => owned.disown(path))
          session.reportTimeout()
          return owned.own(path, value, ttl)
        })
      )
    })

  return { put, ...removals(session, owned) }
}
