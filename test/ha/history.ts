/**
 * The recorded history of the fault-injection suite: one record per client
 * operation, one per fault the nemesis injected. Times are milliseconds on
 * the wall clock shared by every process of the machine.
 */

/** `register` is a new address, `refresh` the same address again (a heartbeat). */
export type OpKind = "register" | "refresh" | "delete" | "list" | "poll"

/**
 * ok: answered 200. fail: answered and certainly not applied (4xx). unknown:
 * a 5xx, a timeout or a broken connection: a write may or may not have
 * taken effect (and may still take effect later).
 */
export type Outcome = "ok" | "fail" | "unknown"

export interface Op {
  /** The logical client. */
  readonly client: number
  readonly kind: OpKind
  /** The serve instance asked. */
  readonly instance: string
  readonly cluster: string
  /** register/refresh/delete: the entry. */
  readonly address?: string
  /** register/refresh: TTL in seconds. */
  readonly ttl?: number
  /** poll: the index sent and the wait in ms. */
  readonly sentIndex?: number
  readonly waitMs?: number
  readonly invokedAt: number
  readonly completedAt: number
  readonly outcome: Outcome
  /** HTTP status, absent when no answer came. */
  readonly status?: number
  readonly retryAfter?: string
  /** list/poll ok: X-Discovery-Index and the entries. */
  readonly index?: number
  readonly entries?: ReadonlyArray<string>
  /** Why there was no answer (timeout, connection error). */
  readonly error?: string
  /** True when the client gave up waiting (no answer at all). */
  readonly timedOut?: boolean
}

/**
 * What a fault does, for the checker: "instance" faults make one serve
 * instance unreachable for its clients (pause, kill, full isolation), so
 * requests to it may hang; "leader" faults take etcd's leader away, after
 * which etcd renews every lease to its full TTL (entries may outlive it).
 */
export interface Fault {
  readonly name: string
  readonly targets: ReadonlyArray<string>
  readonly unreachable: ReadonlyArray<string>
  readonly leaderLoss: boolean
  readonly startedAt: number
  readonly healedAt: number
  /** When the next fault starts (or the load stops). */
  readonly endedAt: number
}

/** etcd deleted an entry (a DELETE, or its lease ran out), at the earliest time a member's watch saw it. */
export interface Deletion {
  readonly cluster: string
  readonly address: string
  readonly revision: number
  readonly at: number
}

export interface History {
  readonly ops: ReadonlyArray<Op>
  readonly faults: ReadonlyArray<Fault>
  /**
   * When etcd elected a leader (ms since the epoch), as its members logged it. The new leader renews every
   * lease to its full TTL plus its election timeout, so an entry may outlive its TTL by that much after any
   * election, including one no fault asked for (a member back with a higher term forces one).
   */
  readonly elections?: ReadonlyArray<number>
  /**
   * The run's entries are renewed by keep-alives (etcd leases per key) on an etcd whose old leader may act
   * on its stale lease clock after a leader change: it answers keep-alives the new leader never sees, and
   * once it runs again it revokes leases it thinks expired (etcd #15247, fixed in 3.4.28 and 3.5.11).
   * A refresh acknowledged near a leader change may then not have renewed its entry (`checker.ts`).
   */
  readonly staleLessor?: boolean
  /** When etcd deleted each entry (`deletions.ts`), to tell a late expiry by etcd from a stale answer. */
  readonly deletions?: ReadonlyArray<Deletion>
}
