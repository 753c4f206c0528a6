/**
 * Opening the SQLite store's file: WAL, the exclusive lock, the integrity
 * check, the schema. A busy file, a damaged one and any other failure each
 * get their own message.
 */
import { Effect, Either, type Scope } from "effect"
import Driver from "better-sqlite3"
import { KvError } from "../../KvStore.js"
import { DatabaseDamaged, isDamage, problems } from "./integrity.js"
import { SCHEMA, type Database } from "./statements.js"

export const STORE = "sqlite"

/** A driver error as one line: its SQLite code and message. */
export const describe = (cause: unknown): string => {
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code
    return typeof code === "string" ? `${code}: ${cause.message}` : cause.message
  }
  return String(cause)
}

export const whereOf = (filename: string) => (filename === ":memory:" ? "in memory" : filename)

/**
 * The error of a failed read or write (a full disk, an I/O error): the driver's error stays the cause, and the
 * detail names the file and the SQLite code, for the operator's log (the server keeps it out of answers).
 */
export const unavailable = (filename: string) => (doing: string, cause: unknown) =>
  new KvError({
    store: STORE,
    reason: "Unavailable",
    detail: `${doing} ${whereOf(filename)}: ${describe(cause)}`,
    cause
  })

export interface OpenOptions {
  readonly filename: string
  readonly synchronous?: "normal" | "full" | undefined
}

const failure = (filename: string, cause: unknown): KvError | DatabaseDamaged => {
  const where = whereOf(filename)
  if (isDamage(cause)) return new DatabaseDamaged({ filename, problems: [describe(cause)], cause })
  const busy = /SQLITE_BUSY|locked/i.test(describe(cause))
  return new KvError({
    store: STORE,
    reason: "Unavailable",
    detail: busy
      ? `${where} is in use by another process (another swarm serve on the same --data-dir?)`
      : `cannot open ${where}: ${describe(cause)}`,
    cause
  })
}

/** Opens and locks the file, checks it, and closes it with the scope. */
export const open = (options: OpenOptions): Effect.Effect<Database, KvError | DatabaseDamaged, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.suspend(() => {
      const { filename } = options
      const opened = Either.try({
        try: () => new Driver(filename, { timeout: 1000 }),
        catch: (cause) => failure(filename, cause)
      })
      if (Either.isLeft(opened)) return Effect.fail(opened.left)
      const db = opened.right
      const ready = Either.try({
        try: () => {
          db.pragma("locking_mode = EXCLUSIVE")
          db.pragma("journal_mode = WAL")
          db.pragma(`synchronous = ${options.synchronous === "full" ? "FULL" : "NORMAL"}`)
          // Take the lock now: a second server on this file fails here, with a clear message.
          db.exec("BEGIN EXCLUSIVE; COMMIT;")
          return filename === ":memory:" ? [] : problems(db)
        },
        catch: (cause) => failure(filename, cause)
      }).pipe(
        Either.flatMap((found) =>
          found.length > 0
            ? Either.left(new DatabaseDamaged({ filename, problems: found }))
            : Either.right(db)
        ),
        Either.flatMap(() =>
          Either.try({ try: () => db.exec(SCHEMA), catch: (cause) => failure(filename, cause) })
        )
      )
      if (Either.isLeft(ready)) {
        db.close()
        return Effect.fail(ready.left)
      }
      return Effect.succeed(db)
    }),
    (db) => Effect.sync(() => db.close())
  )
