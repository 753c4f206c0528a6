/**
 * The slice of better-sqlite3 (which ships no types) that the SQLite store uses.
 * Only `Sqlite.ts` and `src/internal/sqlite/` import it, so the declaration stays out of the public API.
 */
declare module "better-sqlite3" {
  export interface Statement {
    run(...params: ReadonlyArray<unknown>): { changes: number }
    get(...params: ReadonlyArray<unknown>): unknown
    all(...params: ReadonlyArray<unknown>): Array<unknown>
    iterate(...params: ReadonlyArray<unknown>): IterableIterator<unknown>
    pluck(on?: boolean): Statement
    raw(on?: boolean): Statement
  }
  export interface Database {
    prepare(sql: string): Statement
    exec(sql: string): void
    pragma(sql: string, options?: { simple?: boolean }): unknown
    transaction<A extends ReadonlyArray<unknown>, R>(fn: (...args: A) => R): (...args: A) => R
    close(): void
  }
  const Database: new (
    filename: string,
    options?: { timeout?: number; readonly?: boolean; fileMustExist?: boolean }
  ) => Database
  export default Database
}
