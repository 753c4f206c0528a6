/**
 * A ZooKeeper `KvStore` over `node-zookeeper-client`.
 *
 * - **Keys** `a/b/c` are znodes `/a/b/c`; missing parents are created as
 *   persistent znodes without data. `list(prefix)` and `watch(prefix)` cover
 *   the children of the prefix's directory (`a/b/` → `/a/b`; `a/b/x` → the
 *   children of `/a/b` whose name starts with `x`) that hold data, one level
 *   deep, as Swarm's libkv did. `deletePrefix` removes whole subtrees.
 * - **TTL.** A put with a TTL makes an EPHEMERAL znode owned by this store's
 *   session; one without makes a persistent znode. ZooKeeper has no per-key
 *   TTL: an ephemeral znode lives as long as the session, which ends when
 *   the client closes it or stops heart-beating (the client pings every third
 *   of the timeout) for `sessionTimeout`. The server clamps that timeout to
 *   2..20 ticks (4s..40s with the default tickTime=2000), and the negotiated
 *   value is logged when it differs from the one asked. While the process
 *   lives, it also removes a key itself when it is not put again within its
 *   TTL, so the KvStore contract holds either way.
 * - **Session expiry.** When the session expires (the client was cut off for
 *   longer than the timeout), a new client and session are made, and every
 *   ephemeral znode this store put (and did not delete) is created again.
 * - **Watch.** A children watch on the directory plus a data watch on each
 *   child, re-armed after every event; an exists watch while the directory is
 *   missing. Each event (and each reconnect) re-reads the directory and emits
 *   a snapshot when its contents changed. The index is the largest of the
 *   directory's pzxid and its children's mzxid, raised so it always grows.
 * - **TLS** is not available: the client library speaks plain TCP only.
 */
import { Data, Deferred, Duration, Effect, Fiber, FiberSet, Layer, Option, type Scope, Stream } from "effect"
// A static import: the CLI bundle cannot `import()` at run time; Kv.ts loads this module lazily instead.
import zookeeper, {
  type Client as ZkClient,
  type Exception as ZkException,
  type Stat as ZkStat,
  type Watcher
} from "node-zookeeper-client"
import ConnectionManager from "node-zookeeper-client/lib/ConnectionManager.js"
import type { TlsFiles } from "../Discovery/Kv.js"
import {
  KvError,
  KvStore,
  type KvPair,
  type KvSnapshot,
  type KvStoreShape,
  type PutOptions,
  type PutResult
} from "../KvStore.js"

// node-zookeeper-client throws from its socket 'data' handler when it cannot parse a frame (for example
// "Unknown code" after a connection was cut mid-stream), which would crash the whole process. Treat a bad
// frame as a lost connection instead: destroy the socket, and the client reconnects as after any drop.
const parseFrame = ConnectionManager.prototype.onSocketData
ConnectionManager.prototype.onSocketData = function (buffer) {
  try {
    parseFrame.call(this, buffer)
  } catch {
    this.socket?.destroy()
  }
}

export interface ZookeeperConfig {
  /** `host:port` of each server. */
  readonly hosts: ReadonlyArray<string>
  /** The session timeout asked of ZooKeeper; entries put with a TTL are ephemeral and live as long as the session. */
  readonly sessionTimeout: Duration.DurationInput
  readonly tls?: TlsFiles
  /** Bound on each operation, including waiting for a connection. Default 5s. */
  readonly timeout?: Duration.DurationInput
}

export const DEFAULT_TIMEOUT = Duration.seconds(5)

const STORE = "zk"

const Code = {
  CONNECTION_LOSS: -4,
  OPERATION_TIMEOUT: -7,
  BAD_ARGUMENTS: -8,
  NO_NODE: -101,
  BAD_VERSION: -103,
  NO_CHILDREN_FOR_EPHEMERALS: -108,
  NODE_EXISTS: -110,
  NOT_EMPTY: -111,
  SESSION_EXPIRED: -112
} as const

/** A failed ZooKeeper call, before it becomes a `KvError`. */
class ZkFailure extends Data.TaggedError("ZkFailure")<{ readonly code: number; readonly text: string }> {}

// --- Paths ---

/** `a/b/c` → `/a/b/c`, or undefined when it is not a valid znode path. */
export const keyToPath = (key: string): string | undefined => {
  const segments = key.replace(/^\/+/, "").split("/")
  if (segments.some((s) => s === "" || s === "." || s === "..")) return undefined
  return "/" + segments.join("/")
}

/** `a/b/` → `{dir: "/a/b", name: ""}`; `a/b/x` → `{dir: "/a/b", name: "x"}`; `` → `{dir: "/", name: ""}`. */
export const prefixToDirectory = (
  prefix: string
): { readonly dir: string; readonly name: string } | undefined => {
  const trimmed = prefix.replace(/^\/+/, "")
  const slash = trimmed.lastIndexOf("/")
  const dirPart = slash < 0 ? "" : trimmed.slice(0, slash)
  const name = slash < 0 ? trimmed : trimmed.slice(slash + 1)
  if (dirPart === "") return { dir: "/", name }
  const dir = keyToPath(dirPart)
  return dir === undefined ? undefined : { dir, name }
}

const child = (dir: string, name: string) => (dir === "/" ? `/${name}` : `${dir}/${name}`)
const pathToKey = (path: string) => path.slice(1)
const parentOf = (path: string) => path.slice(0, path.lastIndexOf("/")) || "/"
const zxid = (buffer: Buffer | undefined) =>
  buffer && buffer.length === 8 ? Number(buffer.readBigUInt64BE(0)) : 0
const NO_OWNER = Buffer.alloc(8)

/** A child as a watch last read it: its value (undefined for a directory) and mzxid. */
interface Child {
  readonly value: string | undefined
  readonly mzxid: number
}

const NODE_DELETED = 2
const NODE_DATA_CHANGED = 3

/** An ephemeral znode this store put, and the fiber that expires it after its TTL. */
interface Owned {
  readonly value: string
  expiry: Fiber.RuntimeFiber<void> | undefined
}

const samePairs = (a: ReadonlyArray<KvPair>, b: ReadonlyArray<KvPair>) =>
  a.length === b.length && a.every((p, i) => p.key === b[i]!.key && p.value === b[i]!.value)

export const make = (config: ZookeeperConfig): Effect.Effect<KvStoreShape, KvError, Scope.Scope> =>
  Effect.gen(function* () {
    if (config.tls !== undefined) {
      return yield* new KvError({
        store: STORE,
        reason: "Invalid",
        detail:
          "ZooKeeper over TLS is not supported (node-zookeeper-client speaks plain TCP only): " +
          "drop kv.cacertfile/kv.certfile/kv.keyfile, or reach ZooKeeper through a TLS tunnel"
      })
    }
    if (config.hosts.length === 0) {
      return yield* new KvError({ store: STORE, reason: "Invalid", detail: "no ZooKeeper server given" })
    }
    const zk = zookeeper
    const timeout = Duration.decode(config.timeout ?? DEFAULT_TIMEOUT)
    const asked = Math.max(1000, Math.round(Duration.toMillis(Duration.decode(config.sessionTimeout))))
    const connection = config.hosts.join(",")
    const where = `ZooKeeper at ${connection}`
    const fibers = yield* FiberSet.make()
    const fork = yield* FiberSet.runtime(fibers)<never>()
    const log = (effect: Effect.Effect<void>) => void fork(effect)

    // --- The connection: one client per session; a new one after expiry. ---
    let client!: ZkClient
    let closed = false
    /** Done while connected; replaced by a pending one on disconnection. */
    let connected = Deferred.unsafeMake<void>(undefined as never)
    let isConnected = false
    /** Counts connections, so a TTL can tell whether it ran wholly while connected. */
    let connections = 0
    const disconnect = () => {
      if (isConnected) connected = Deferred.unsafeMake<void>(undefined as never)
      isConnected = false
    }
    let session: Buffer | undefined
    let reportedTimeout = false
    /** Wake-ups for running watches: on every (re)connection. */
    const wakers = new Set<() => void>()
    /** Ephemeral znodes this store put and did not delete, to create again in a new session. */
    const owned = new Map<string, Owned>()

    const open = () => {
      const c = zk.createClient(connection, { sessionTimeout: asked, spinDelay: 250, retries: 0 })
      client = c
      c.on("connected", () => {
        if (c !== client || closed) return
        const id = c.getSessionId()
        const fresh = session !== undefined && !session.equals(id)
        session = id
        isConnected = true
        connections++
        Deferred.unsafeDone(connected, Effect.void)
        const negotiated = c.getSessionTimeout()
        if (!reportedTimeout && Math.abs(negotiated - asked) >= 1000) {
          reportedTimeout = true
          log(
            Effect.logInfo(
              `${where} negotiated a session timeout of ${negotiated}ms (asked ${asked}ms): ` +
                `entries of a node that stops vanish after about ${Math.round(negotiated / 1000)}s`
            )
          )
        }
        if (fresh && owned.size > 0) log(restoreOwned)
        for (const wake of wakers) wake()
      })
      c.on("disconnected", () => {
        if (c !== client || closed) return
        disconnect()
      })
      c.on("expired", () => {
        if (c !== client || closed) return
        log(Effect.logWarning(`${where}: the session expired; opening a new one and re-creating our entries`))
        disconnect()
        c.close()
        open()
      })
      c.on("authenticationFailed", () => {
        if (c !== client || closed) return
        log(Effect.logError(`${where}: authentication failed`))
      })
      c.connect()
    }

    yield* Effect.acquireRelease(Effect.sync(open), () =>
      Effect.sync(() => {
        closed = true
        // Closing the session removes our ephemeral znodes at once, as a leave should.
        client.close()
      })
    )

    // --- Calls ---

    const call = <A>(f: (c: ZkClient, done: (error: ZkException | null, a: A) => void) => void) =>
      Effect.async<A, ZkFailure>((resume) => {
        try {
          f(client, (error, a) =>
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

    const getData = (path: string, watcher?: Watcher) =>
      call<{ data: Buffer | null | undefined; stat: ZkStat }>((c, done) =>
        c.getData(path, watcher, (e, data, stat) => done(e, { data, stat }))
      )
    const getChildren = (path: string, watcher?: Watcher) =>
      call<{ children: Array<string>; stat: ZkStat }>((c, done) =>
        c.getChildren(path, watcher, (e, children, stat) => done(e, { children, stat }))
      )
    const exists = (path: string, watcher?: Watcher) =>
      call<ZkStat | null>((c, done) => c.exists(path, watcher, done))
    const create = (path: string, value: string, ephemeral: boolean) =>
      call<string>((c, done) =>
        c.create(
          path,
          Buffer.from(value),
          ephemeral ? zk.CreateMode.EPHEMERAL : zk.CreateMode.PERSISTENT,
          done
        )
      )
    const setData = (path: string, value: string, version: number) =>
      call<ZkStat>((c, done) => c.setData(path, Buffer.from(value), version, done))
    const remove = (path: string, version: number) =>
      call<void>((c, done) => c.remove(path, version, (e) => done(e, undefined)))
    const mkdirp = (path: string) => call<string>((c, done) => c.mkdirp(path, done))

    const orNone = <A, R>(effect: Effect.Effect<A, ZkFailure, R>) =>
      effect.pipe(
        Effect.map(Option.some),
        Effect.catchIf(
          (f) => f.code === Code.NO_NODE,
          () => Effect.succeed(Option.none<A>())
        )
      )

    const invalid = (detail: string) => new KvError({ store: STORE, reason: "Invalid", detail })

    /** Waits for a connection, runs `effect`, maps its failure, all bounded by `timeout`. */
    const run = <A>(what: string, effect: Effect.Effect<A, ZkFailure | KvError>): Effect.Effect<A, KvError> =>
      Effect.suspend(() => Deferred.await(connected)).pipe(
        Effect.zipRight(effect),
        // Abandonable even inside a finalizer (a leave while ZooKeeper is down), so the timeout holds.
        Effect.interruptible,
        Effect.mapError((failure) =>
          failure instanceof KvError
            ? failure
            : new KvError({
                store: STORE,
                reason:
                  failure.code === Code.CONNECTION_LOSS || failure.code === Code.SESSION_EXPIRED
                    ? "Unavailable"
                    : failure.code === Code.OPERATION_TIMEOUT
                      ? "Timeout"
                      : "BadResponse",
                detail: `${what} on ${where}: ${failure.text}`
              })
        ),
        Effect.timeoutFail({
          duration: timeout,
          onTimeout: () =>
            isConnected
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

    // --- put ---

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

    /** Makes `path` hold `value`, ephemeral in this session when `ephemeral`. Retries lost races. */
    const write = (
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
            const { data, stat } = current.value
            const owner = stat.ephemeralOwner
            const right = ephemeral ? owner.equals(client.getSessionId()) : owner.equals(NO_OWNER)
            if (right) {
              if (data != null && data.toString() === value) return "updated"
              const set = yield* Effect.either(setData(path, value, stat.version))
              if (set._tag === "Right") return "updated"
              if (set.left.code === Code.BAD_VERSION || set.left.code === Code.NO_NODE) continue
              return yield* set.left
            }
            // The wrong kind (or another session's ephemeral): replace it.
            const removed = yield* Effect.either(remove(path, stat.version))
            if (removed._tag === "Left" && removed.left.code !== Code.NO_NODE) {
              if (removed.left.code === Code.BAD_VERSION) continue
              return yield* removed.left
            }
          } else if (limit !== undefined && (yield* countUnder(limit.prefix)) >= limit.max) {
            return yield* new KvError({
              store: STORE,
              reason: "LimitExceeded",
              detail: `${limit.prefix} already holds ${limit.max} keys`
            })
          }
          let made = yield* Effect.either(create(path, value, ephemeral))
          if (made._tag === "Left" && made.left.code === Code.NO_NODE && parentOf(path) !== "/") {
            // The parents are missing: make them (persistent, without data), then try again.
            yield* mkdirp(parentOf(path))
            made = yield* Effect.either(create(path, value, ephemeral))
          }
          if (made._tag === "Right") return existed ? "updated" : "created"
          if (made.left.code === Code.NODE_EXISTS || made.left.code === Code.NO_NODE) continue
          if (made.left.code === Code.NO_CHILDREN_FOR_EPHEMERALS) {
            return yield* invalid(`cannot put ${pathToKey(path)}: a parent is an ephemeral entry`)
          }
          return yield* made.left
        }
        return yield* new KvError({
          store: STORE,
          reason: "Unavailable",
          detail: `put ${pathToKey(path)} on ${where}: kept racing with other writers`
        })
      })

    const put = (key: string, value: string, options?: PutOptions): Effect.Effect<PutResult, KvError> =>
      Effect.suspend(() => {
        const path = keyToPath(key)
        if (path === undefined)
          return Effect.fail(invalid(`${JSON.stringify(key)} is not a valid ZooKeeper key`))
        const ephemeral = options?.ttl !== undefined
        return run(`put ${key}`, write(path, value, ephemeral, options?.limit)).pipe(
          Effect.tap(() => {
            disown(path)
            if (options?.ttl === undefined) return Effect.void
            const entry: Owned = { value, expiry: undefined }
            owned.set(path, entry)
            return Effect.sync(() => {
              entry.expiry = fork(expireLater(path, entry, Duration.decode(options.ttl!)))
            })
          })
        )
      })

    const disown = (path: string) => {
      const entry = owned.get(path)
      owned.delete(path)
      if (entry?.expiry) fork(Fiber.interrupt(entry.expiry))
    }

    /**
     * The TTL, kept by this process: a key not put again within its TTL is
     * removed even while the session lives (a stuck heartbeat loop must not
     * keep a node listed). A dead process's keys go with its session instead.
     * A TTL that ran out while ZooKeeper was unreachable (so no put could get
     * through) starts again once connected: the session decides meanwhile.
     */
    const expireLater = (path: string, entry: Owned, ttl: Duration.Duration) =>
      Effect.gen(function* () {
        for (;;) {
          const epoch = connections
          yield* Effect.sleep(ttl)
          if (owned.get(path) !== entry) return
          if (isConnected && connections === epoch) break
        }
        owned.delete(path)
        yield* run(
          `expire ${pathToKey(path)}`,
          Effect.gen(function* () {
            const node = yield* orNone(getData(path))
            if (Option.isSome(node) && node.value.stat.ephemeralOwner.equals(client.getSessionId())) {
              yield* remove(path, node.value.stat.version)
            }
          })
        )
      }).pipe(
        Effect.catchAll((error) => Effect.logDebug(`could not expire ${pathToKey(path)}: ${error.message}`))
      )

    /** After a new session: create again every ephemeral znode we own (the old session took them along). */
    const restoreOwned: Effect.Effect<void> = Effect.suspend(() =>
      Effect.forEach(
        [...owned],
        ([path, { value }]) =>
          run(`re-create ${pathToKey(path)}`, write(path, value, true, undefined)).pipe(
            Effect.catchAll((error) =>
              Effect.logWarning(`could not re-create ${pathToKey(path)} in the new session: ${error.message}`)
            )
          ),
        { discard: true }
      )
    ).pipe(Effect.tap(() => Effect.logInfo(`${where}: re-created ${owned.size} entries in the new session`)))

    // --- delete ---

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
        for (const key of [...owned.keys()]) if (key === path || key.startsWith(path + "/")) disown(key)
        return count
      })

    const deleteKey = (key: string) =>
      Effect.suspend(() => {
        const path = keyToPath(key)
        if (path === undefined)
          return Effect.fail(invalid(`${JSON.stringify(key)} is not a valid ZooKeeper key`))
        disown(path)
        return run(
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
        return run(
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

    // --- list and watch ---

    /** The children of the directory that hold data, and an index; arms watches when given a watcher. */
    /**
     * The children of the directory that hold data, and an index; arms watches when given a watcher.
     * With a `cache` (a watch's), only children not in it are read: a child's entry stays valid
     * while its data watch has not fired, and the watcher drops it when it does.
     */
    const read = (
      dir: string,
      name: string,
      watcher?: Watcher,
      cache?: Map<string, Child>
    ): Effect.Effect<{ readonly pairs: Array<KvPair>; readonly index: number }, ZkFailure> =>
      Effect.gen(function* () {
        const listed = yield* orNone(getChildren(dir, watcher))
        if (Option.isNone(listed)) {
          cache?.clear()
          if (watcher !== undefined) {
            // The directory is missing: watch for it to appear (or read again if it just did).
            const appeared = yield* exists(dir, watcher)
            if (appeared !== null) return yield* read(dir, name, watcher, cache)
          }
          return { pairs: [] as Array<KvPair>, index: 0 }
        }
        const names = listed.value.children.filter((n) => n.startsWith(name)).sort()
        const known = cache ?? new Map<string, Child>()
        const present = new Set(names)
        for (const n of known.keys()) if (!present.has(n)) known.delete(n)
        // One request per unknown child, pipelined on the connection.
        yield* Effect.forEach(
          names.filter((n) => !known.has(n)),
          (n) =>
            Effect.map(orNone(getData(child(dir, n), watcher)), (node) => {
              // A child deleted meanwhile is skipped: the children watch fires for it.
              if (Option.isSome(node)) {
                known.set(n, { value: node.value.data?.toString(), mzxid: zxid(node.value.stat.mzxid) })
              }
            }),
          { concurrency: 32, discard: true }
        )
        let index = zxid(listed.value.stat.pzxid)
        const pairs: Array<KvPair> = []
        for (const n of names) {
          const c = known.get(n)
          if (c === undefined) continue
          index = Math.max(index, c.mzxid)
          if (c.value !== undefined) pairs.push({ key: pathToKey(child(dir, n)), value: c.value })
        }
        return { pairs, index }
      })

    const locate = (prefix: string) => {
      const location = prefixToDirectory(prefix)
      return location === undefined
        ? Effect.fail(invalid(`${prefix} is not a valid ZooKeeper prefix`))
        : Effect.succeed(location)
    }

    const list = (prefix: string): Effect.Effect<KvSnapshot, KvError> =>
      Effect.flatMap(locate(prefix), ({ dir, name }) => run(`list ${prefix}`, read(dir, name)))

    const watch = (prefix: string): Stream.Stream<KvSnapshot, KvError> =>
      Stream.unwrapScoped(
        Effect.gen(function* () {
          const { dir, name } = yield* locate(prefix)
          let signal = Deferred.unsafeMake<void>(undefined as never)
          const wake = () => Deferred.unsafeDone(signal, Effect.void)
          /** The children read so far whose data watch is armed. */
          const cache = new Map<string, Child>()
          // One stable watcher function: the library keeps one registration per path for it.
          const watcher: Watcher = (event) => {
            if (event.path !== dir && (event.type === NODE_DELETED || event.type === NODE_DATA_CHANGED)) {
              cache.delete(event.path.slice(event.path.lastIndexOf("/") + 1))
            }
            wake()
          }
          // On every (re)connection: read everything again (a new session has none of our watches).
          const reconnected = () => {
            cache.clear()
            wake()
          }
          yield* Effect.acquireRelease(
            Effect.sync(() => wakers.add(reconnected)),
            () => Effect.sync(() => wakers.delete(reconnected))
          )
          const first = yield* run(`watch ${prefix}`, read(dir, name, watcher, cache))
          let last = first
          let failed = false
          const next: Effect.Effect<Option.Option<KvSnapshot>> = Effect.gen(function* () {
            const waiting = Deferred.await(signal)
            // After a failed read, try again soon even without an event.
            yield* failed ? Effect.race(waiting, Effect.sleep(Duration.seconds(1))) : waiting
            signal = Deferred.unsafeMake<void>(undefined as never)
            const result = yield* Effect.either(run(`watch ${prefix}`, read(dir, name, watcher, cache)))
            if (result._tag === "Left") {
              cache.clear()
              if (!failed) yield* Effect.logDebug(`${result.left.message}; retrying`)
              failed = true
              return Option.none()
            }
            failed = false
            if (samePairs(result.right.pairs, last.pairs)) return Option.none()
            last = { pairs: result.right.pairs, index: Math.max(result.right.index, last.index + 1) }
            return Option.some(last)
          })
          return Stream.concat(Stream.make(first), Stream.repeatEffect(next).pipe(Stream.filterMap((x) => x)))
        })
      )

    return { put, delete: deleteKey, deletePrefix, list, watch }
  })

export const layer = (config: ZookeeperConfig): Layer.Layer<KvStore, KvError> =>
  Layer.scoped(KvStore, make(config))
