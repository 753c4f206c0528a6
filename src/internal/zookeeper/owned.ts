/**
 * The ephemeral znodes this store put and did not delete, with the TTL each
 * one keeps in this process.
 *
 * - **TTL.** A key not put again within its TTL is removed even while the
 *   session lives (a stuck heartbeat loop must not keep a node listed). A TTL
 *   that ran out while ZooKeeper was unreachable (so no put could get
 *   through) starts again once connected: the session decides meanwhile. A
 *   dead process's keys go with its session instead.
 * - **New session.** After the session expired, every owned znode is created
 *   again in the new one (the old session took them along).
 */
import { Duration, Effect, Fiber, Option } from "effect"
import type { KvError, PutResult } from "../../KvStore.js"
import { pathToKey } from "./paths.js"
import { orNone, type Session, type ZkFailure } from "./session.js"

interface Entry {
  readonly value: string
  expiry: Fiber.RuntimeFiber<void> | undefined
}

/** Writes `value` at `path` as an ephemeral znode of this session (the store's `write`). */
export type Write = (path: string, value: string) => Effect.Effect<PutResult, ZkFailure | KvError>

export const make = (session: Session, write: Write) => {
  const owned = new Map<string, Entry>()

  const disown = (path: string) => {
    const entry = owned.get(path)
    owned.delete(path)
    if (entry?.expiry) session.fork(Fiber.interrupt(entry.expiry))
  }

  const expireLater = (path: string, entry: Entry, ttl: Duration.Duration) =>
    Effect.gen(function* () {
      for (;;) {
        const epoch = session.connections()
        yield* Effect.sleep(ttl)
        if (owned.get(path) !== entry) return
        if (session.isConnected() && session.connections() === epoch) break
      }
      owned.delete(path)
      yield* session.run(
        `expire ${pathToKey(path)}`,
        Effect.gen(function* () {
          const node = yield* orNone(session.getData(path))
          if (Option.isSome(node) && node.value.stat.ephemeralOwner.equals(session.sessionId())) {
            yield* session.remove(path, node.value.stat.version)
          }
        })
      )
    }).pipe(
      Effect.catchAll((error) => Effect.logDebug(`could not expire ${pathToKey(path)}: ${error.message}`))
    )

  /** Records an ephemeral put of `path` and (re)starts its TTL. */
  const own = (path: string, value: string, ttl: Duration.DurationInput) =>
    Effect.sync(() => {
      disown(path)
      const entry: Entry = { value, expiry: undefined }
      owned.set(path, entry)
      entry.expiry = session.fork(expireLater(path, entry, Duration.decode(ttl)))
    })

  const restore: Effect.Effect<void> = Effect.suspend(() =>
    Effect.forEach(
      [...owned],
      ([path, { value }]) =>
        session
          .run(`re-create ${pathToKey(path)}`, write(path, value))
          .pipe(
            Effect.catchAll((error) =>
              Effect.logWarning(`could not re-create ${pathToKey(path)} in the new session: ${error.message}`)
            )
          ),
      { discard: true }
    ).pipe(
      Effect.tap(() =>
        Effect.logInfo(`${session.where}: re-created ${owned.size} entries in the new session`)
      )
    )
  )
  session.setOnNewSession(restore)

  /** Forgets every owned path at or below `path`. */
  const disownTree = (path: string) => {
    for (const key of [...owned.keys()]) if (key === path || key.startsWith(path + "/")) disown(key)
  }

  return { own, disown, disownTree }
}
