/**
 * Group commit for the SQLite store.
 *
 * A commit costs a WAL frame write (and, at checkpoints, its fsync) whatever
 * it holds, so the writes that arrive before the commit runs share one
 * transaction; each write is a savepoint inside it, and none is acknowledged
 * before the commit. Watchers hear of changes only once they are committed.
 *
 * When the commit runs is `schedule`'s choice: `nextTurn` (the default)
 * commits once the event loop turn's I/O callbacks have run; `atOnce`
 * commits each write before it returns, which makes tests under `TestClock`
 * deterministic (no real timer between a write and its acknowledgement).
 */
import { Clock, Effect, Either } from "effect"
import type { KvError } from "../../KvStore.js"
import type { Statements } from "./statements.js"

export type ScheduleCommit = (commit: () => void) => void

/** Commit after the current event-loop turn (`setImmediate`): one commit for a turn's writes. */
export const nextTurn: ScheduleCommit = (commit) => {
  setImmediate(commit)
}

/** Commit every write at once, before it returns. */
export const atOnce: ScheduleCommit = (commit) => commit()

/** What a write did, applied but not yet committed. */
export interface Applied<A> {
  readonly _tag: "Applied"
  readonly result: A
  /** The directories and keys it changed (none for a refresh that only moves a deadline). */
  readonly touched?: ReadonlySet<string> | undefined
  readonly keys?: ReadonlyArray<string> | undefined
}

/** A write that did nothing, for a reason the caller can tell its client (e.g. a full directory). */
export interface Refused {
  readonly _tag: "Refused"
  readonly error: KvError
}

export type Change<A> = Applied<A> | Refused

export const applied = <A>(result: A, touched?: ReadonlySet<string>, keys?: ReadonlyArray<string>) =>
  ({ _tag: "Applied", result, touched, keys }) as const

export interface CommitsOptions {
  readonly q: Statements
  readonly schedule: ScheduleCommit
  /** Undefined while the store is open; the error every operation then fails with. */
  readonly closed: () => KvError | undefined
  readonly failure: (doing: string, cause: unknown) => KvError
  /** After a commit: tell the watchers. */
  readonly committed: (touched: ReadonlySet<string>, keys: ReadonlyArray<string>) => void
  /** After a failed commit or write: the mirror may be ahead of the file. */
  readonly rolledBack: () => void
  readonly rollback: () => void
}

interface Batch {
  readonly waiting: Array<(error: KvError | undefined) => void>
  readonly touched: Set<string>
  readonly keys: Array<string>
}

export const make = (options: CommitsOptions) => {
  const { q } = options
  let batch: Batch | undefined

  const commit = () => {
    const current = batch
    if (current === undefined) return
    batch = undefined
    const done = Either.try({
      try: () => q.commit.run(),
      catch: (cause) => options.failure("cannot commit to", cause)
    })
    if (Either.isLeft(done)) {
      options.rollback()
      options.rolledBack()
    } else options.committed(current.touched, current.keys)
    const error = Either.isLeft(done) ? done.left : undefined
    for (const callback of current.waiting) callback(error)
  }

  /**
   * Applies `f` in the current batch (opening one if needed): its result, or why it failed. `onDurable`,
   * given a result, is what to call once the batch commits (registered before the commit is scheduled, so
   * a commit `atOnce` reaches it too).
   */
  const apply = <A>(
    doing: string,
    now: number,
    f: (now: number) => Change<A>,
    onDurable?: (result: A) => (error: KvError | undefined) => void
  ): Either.Either<A, KvError> => {
    const closed = options.closed()
    if (closed !== undefined) return Either.left(closed)
    const opened = batch === undefined
    if (opened) {
      const begun = Either.try({ try: () => q.begin.run(), catch: (cause) => options.failure(doing, cause) })
      if (Either.isLeft(begun)) return Either.left(begun.left)
      batch = { waiting: [], touched: new Set(), keys: [] }
    }
    const current = batch!
    let outcome: Either.Either<A, KvError>
    try {
      const change = f(now)
      if (change._tag === "Refused") outcome = Either.left(change.error)
      else {
        const { result, touched, keys } = change
        if (touched !== undefined) for (const dir of touched) current.touched.add(dir)
        if (keys !== undefined) for (const key of keys) current.keys.push(key)
        if (onDurable !== undefined) current.waiting.push(onDurable(result))
        outcome = Either.right(result)
      }
    } catch (cause) {
      // A driver error: the savepoint is rolled back, and the mirror may be ahead of it.
      options.rolledBack()
      outcome = Either.left(options.failure(doing, cause))
    }
    if (opened) options.schedule(commit)
    return outcome
  }

  /** Calls back once every write applied so far is committed, or with the error that stopped it. */
  const whenDurable = (callback: (error: KvError | undefined) => void): void => {
    if (batch === undefined) callback(undefined)
    else batch.waiting.push(callback)
  }

  /** A write that succeeds once committed. */
  const durable = <A>(doing: string, f: (now: number) => Change<A>): Effect.Effect<A, KvError> =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.async<A, KvError>((resume) => {
        const outcome = apply(
          doing,
          now,
          f,
          (result) => (error) => resume(error === undefined ? Effect.succeed(result) : Effect.fail(error))
        )
        if (Either.isLeft(outcome)) resume(Effect.fail(outcome.left))
      })
    )

  /** A write that succeeds once applied (the store's `early` view; with `atOnce`, for tests only, a failed commit goes unseen). */
  const early = <A>(doing: string, f: (now: number) => Change<A>): Effect.Effect<A, KvError> =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const outcome = apply(doing, now, f)
      return Either.isRight(outcome) ? Effect.succeed(outcome.right) : Effect.fail(outcome.left)
    })

  return { commit, whenDurable, durable, early }
}

export type Writer = <A>(doing: string, f: (now: number) => Change<A>) => Effect.Effect<A, KvError>
