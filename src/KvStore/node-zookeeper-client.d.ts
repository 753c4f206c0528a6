/**
 * The slice of node-zookeeper-client (which ships no types) that the ZooKeeper
 * store uses. Only its modules import it, so the declaration stays out of the public API.
 */
declare module "node-zookeeper-client" {
  export interface Stat {
    readonly version: number
    /** 8 bytes: the owning session id, zero for a persistent znode. */
    readonly ephemeralOwner: Buffer
    readonly numChildren: number
    /** 8-byte zxids. */
    readonly mzxid: Buffer
    readonly pzxid: Buffer
  }
  export interface Exception extends Error {
    getCode(): number
  }
  export type Callback<A> = (error: Exception | null, result: A) => void
  export type Callback2<A, B> = (error: Exception | null, a: A, b: B) => void
  export interface Event {
    /** 1 created, 2 deleted, 3 data changed, 4 children changed. */
    readonly type: number
    readonly name: string
    readonly path: string
  }
  export type Watcher = (event: Event) => void
  export interface Client {
    /** Internal, but stable since 0.2: the store repairs it (see internal/zookeeper/guard.ts). */
    readonly connectionManager: import("../internal/zookeeper/guard.js").Repairable
    connect(): void
    close(): void
    getSessionId(): Buffer
    getSessionTimeout(): number
    on(event: "connected" | "disconnected" | "expired" | "authenticationFailed", listener: () => void): void
    create(path: string, data: Buffer, mode: number, callback: Callback<string>): void
    remove(path: string, version: number, callback: (error: Exception | null) => void): void
    setData(path: string, data: Buffer, version: number, callback: Callback<Stat>): void
    /** Data is `undefined` for a znode created without data (a parent made by `mkdirp`). */
    getData(
      path: string,
      watcher: Watcher | undefined,
      callback: Callback2<Buffer | null | undefined, Stat>
    ): void
    exists(path: string, watcher: Watcher | undefined, callback: Callback<Stat | null>): void
    getChildren(path: string, watcher: Watcher | undefined, callback: Callback2<Array<string>, Stat>): void
    mkdirp(path: string, callback: Callback<string>): void
  }
  const zookeeper: {
    createClient(
      connectionString: string,
      options: { sessionTimeout: number; spinDelay: number; retries: number }
    ): Client
    readonly CreateMode: { readonly PERSISTENT: number; readonly EPHEMERAL: number }
  }
  export default zookeeper
}

declare module "node-zookeeper-client/lib/ConnectionManager.js" {
  type Repairable = import("../internal/zookeeper/guard.js").Repairable
  /** For the guard's unit test: a connection manager made directly. */
  const ConnectionManager: {
    new (
      connectionString: string,
      options: { sessionTimeout: number; spinDelay: number; retries: number },
      stateListener: (state: unknown) => void
    ): Repairable & { connect(): void; close(): void }
    prototype: Repairable
  }
  export default ConnectionManager
}
