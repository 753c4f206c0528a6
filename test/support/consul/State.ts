/**
 * The Consul double's state store: KV entries, tombstones, lock delays,
 * sessions, and the indexes Consul derives from them (after its state store).
 *
 * - Indexes: one raft index grows on every write (sessions included). A KV
 *   read's `X-Consul-Index` is the highest `ModifyIndex` or tombstone under
 *   the prefix, or the whole KV table's index when there is none, and never 0.
 * - Session expiry: a TTL session is invalidated `ttlMultiplier` × TTL (2,
 *   like Consul's leader) after its last renewal; invalidation deletes (or
 *   releases) the keys it holds and applies the lock delay to them.
 *
 * It knows nothing of HTTP: a change calls `onChange`, which wakes blocking
 * queries.
 */
import type { DoubleClock } from "./Clock.js"

export interface DoubleEntry {
  readonly key: string
  readonly value: Buffer
  readonly flags: number
  readonly createIndex: number
  readonly modifyIndex: number
  readonly lockIndex: number
  readonly session: string | undefined
}

export /** Consul's DirEntry.Equal: a write that changes none of these is a no-op (no new ModifyIndex, no wake-up). */
const sameEntry = (a: DoubleEntry | undefined, b: DoubleEntry): a is DoubleEntry =>
  a !== undefined &&
  a.lockIndex === b.lockIndex &&
  a.flags === b.flags &&
  a.session === b.session &&
  a.value.equals(b.value)

export interface DoubleSession {
  readonly id: string
  readonly name: string
  readonly behavior: "release" | "delete"
  readonly ttlMillis: number | undefined
  readonly lockDelayMillis: number
  readonly createIndex: number
  /** When the double will invalidate it (undefined without a TTL). */
  expiresAt: number | undefined
  cancelTimer: () => void
}

export interface StateOptions {
  /** The raft index of a fresh server (default 1). */
  readonly initialIndex?: number
  /** TTLs after the last renewal before a session is invalidated (default 2). */
  readonly ttlMultiplier?: number
}

export class ConsulState {
  readonly kv = new Map<string, DoubleEntry>()
  /** Key → the time until which a lock on it may not be acquired. */
  readonly lockDelays = new Map<string, number>()
  readonly sessions = new Map<string, DoubleSession>()
  private readonly tombstones = new Map<string, number>()
  private raftIndex = 0
  private kvsIndex = 0
  private tombstonesIndex = 0

  constructor(
    readonly clock: DoubleClock,
    private readonly options: StateOptions,
    private readonly onChange: () => void
  ) {
    this.reset()
  }

  get index(): number {
    return this.raftIndex
  }

  /** A fresh server's state (indexes go backwards); does not notify. */
  reset(): void {
    this.cancelTimers()
    this.sessions.clear()
    this.kv.clear()
    this.tombstones.clear()
    this.lockDelays.clear()
    this.raftIndex = this.options.initialIndex ?? 1
    this.kvsIndex = 0
    this.tombstonesIndex = 0
  }

  cancelTimers(): void {
    for (const session of this.sessions.values()) session.cancelTimer()
  }

  reapTombstones(): void {
    this.tombstones.clear()
    this.tombstonesIndex = 0
    this.notify()
  }

  nextIndex(): number {
    return ++this.raftIndex
  }

  notify(): void {
    this.onChange()
  }

  setEntry(entry: DoubleEntry): void {
    this.kv.set(entry.key, entry)
    this.tombstones.delete(entry.key)
    this.kvsIndex = entry.modifyIndex
  }

  deleteEntry(key: string, index: number): boolean {
    if (!this.kv.delete(key)) return false
    this.tombstones.set(key, index)
    this.tombstonesIndex = index
    this.kvsIndex = index
    return true
  }

  /** kvsListTxn: the highest index under the prefix, else the table's, never below 1. */
  prefixIndex(prefix: string): number {
    const tableIndex = Math.max(this.kvsIndex, this.tombstonesIndex)
    let sub = 0
    if (prefix === "") {
      sub = tableIndex
    } else {
      for (const entry of this.kv.values())
        if (entry.key.startsWith(prefix)) sub = Math.max(sub, entry.modifyIndex)
      for (const [key, index] of this.tombstones) if (key.startsWith(prefix)) sub = Math.max(sub, index)
    }
    return Math.max(1, sub !== 0 ? sub : tableIndex)
  }

  keyIndex(key: string): number {
    const entry = this.kv.get(key)
    const sub = Math.max(entry?.modifyIndex ?? 0, this.tombstones.get(key) ?? 0)
    return Math.max(1, sub !== 0 ? sub : Math.max(this.kvsIndex, this.tombstonesIndex))
  }

  invalidate(id: string): void {
    const session = this.sessions.get(id)
    if (session === undefined) return
    session.cancelTimer()
    this.sessions.delete(id)
    const index = this.nextIndex()
    const now = this.clock.now()
    for (const entry of [...this.kv.values()]) {
      if (entry.session !== id) continue
      if (session.lockDelayMillis > 0) this.lockDelays.set(entry.key, now + session.lockDelayMillis)
      if (session.behavior === "delete") this.deleteEntry(entry.key, index)
      else this.setEntry({ ...entry, session: undefined, modifyIndex: index })
    }
    this.notify()
  }

  /** (Re)starts a TTL session's expiry, on create and on every renewal. */
  armTimer(session: DoubleSession): void {
    session.cancelTimer()
    if (session.ttlMillis === undefined) return
    const at = this.clock.now() + session.ttlMillis * (this.options.ttlMultiplier ?? 2)
    session.expiresAt = at
    session.cancelTimer = this.clock.setTimer(at, () => this.invalidate(session.id))
  }
}
