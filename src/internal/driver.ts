/**
 * The store drivers are optional peer dependencies: a library user installs
 * only the one their backend needs. A store module that imports a driver is
 * loaded lazily through `load`, which turns "that package is not installed"
 * into `MissingDriver` (a typed error naming the install command) instead of
 * a defect. Any other import failure stays what it was.
 */
import { Effect } from "effect"
import { MissingDriver } from "../DiscoveryError.js"

/** Each driver with the command that installs the major version we support. */
export const drivers = {
  "better-sqlite3": "npm install better-sqlite3@12",
  etcd3: "npm install etcd3@1",
  "node-zookeeper-client": "npm install node-zookeeper-client@1"
} as const

export type Driver = keyof typeof drivers

/** Whether `error` says that `driver` itself (not something inside it) cannot be found: ESM and CommonJS wording. */
export const isMissing = (error: unknown, driver: Driver): boolean => {
  if (typeof error !== "object" || error === null) return false
  const { code, message } = error as { code?: unknown; message?: unknown }
  if (code !== "ERR_MODULE_NOT_FOUND" && code !== "MODULE_NOT_FOUND") return false
  const kind = code === "MODULE_NOT_FOUND" ? "module" : "package"
  // `driver` itself or a file inside it (CommonJS names the subpath: 'node-zookeeper-client/lib/...').
  return (
    typeof message === "string" &&
    (message.startsWith(`Cannot find ${kind} '${driver}'`) ||
      message.startsWith(`Cannot find ${kind} '${driver}/`))
  )
}

/**
 * Imports a module that needs `driver`. A missing driver fails with
 * `MissingDriver`; another failure goes to `onOther` when given, else is a defect.
 */
export const load = <M, E = never>(
  driver: Driver,
  backend: string,
  importModule: () => Promise<M>,
  onOther?: (error: unknown) => E
): Effect.Effect<M, MissingDriver | E> =>
  Effect.tryPromise({ try: importModule, catch: (error) => error }).pipe(
    Effect.catchAll((error): Effect.Effect<never, MissingDriver | E> => {
      if (isMissing(error, driver))
        return Effect.fail(new MissingDriver({ driver, backend, install: drivers[driver], cause: error }))
      return onOther === undefined ? Effect.die(error) : Effect.fail(onOther(error))
    })
  )
