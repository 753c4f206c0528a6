/**
 * Puts on leases, committed together: every put waiting when a committer is
 * free goes into one etcd transaction (up to `MAX_BATCH`, distinct keys), so
 * under load a put costs a share of one raft write instead of a whole one
 * (bench/RESULTS.md: a transaction of 32 puts costs etcd about a quarter of
 * the CPU per put of single puts). A quiet store commits each put at once.
 *
 * One transaction is in flight at a time, and the next batch gathers while it
 * is: with 64 requests in flight over 2 instances, 1 committer per instance
 * registered 1,053 new entries/s, 2 committers 905/s and 4 committers 635/s
 * (smaller batches, more transactions).
 *
 * The lease of each put is taken when its batch is committed and held until
 * its transaction ends, so a lease shared by time (`leaseBuckets.ts`) is never
 * older than that batch's bucket, nor revoked under it. And a
 * transaction applies only if none of its keys was written after the last
 * revision this instance knew when it sent it: etcd may apply a transaction
 * late (an attempt that timed out, a retry on another member, a proposal
 * forwarded across a partition), and a late put would move a key back to an
 * older lease than a later put acknowledged, which then expires too soon.
 * A batch refused so (a key written meanwhile) is sent again knowing etcd's
 * revision then, on the lease of that moment.
 *
 * That compare cannot see a key deleted after the batch was sent (a missing
 * key's mod_revision is 0), so a late copy of a batch that did commit would
 * bring back an entry whose DELETE was acknowledged since (the HA suite found
 * one: a transaction to the isolated etcd leader, retried on another member
 * and acknowledged, was applied again when the partition healed). Each
 * committer therefore also writes a fence key of its own in every
 * transaction, and compares it with the revision its last one left: of the
 * copies of one send at most one applies, and a copy arriving after any later
 * commit of this committer is refused. A refused send learns the fence's
 * revision from the answer and goes again. When the fence had moved past its
 * last commit, a copy of the send applied unseen (its answer lost): a key
 * created at that revision is reported created, not updated, so the kept
 * counts still see it.
 */
import { randomUUID } from "node:crypto"
import { hostname } from "node:os"
import { Cause, Deferred, Effect, Option, Queue, type Scope } from "effect"
import { KvError } from "../../KvStore.js"
import { type Connection, STORE } from "./connection.js"
import * as Followed from "./followed.js"
import * as Requests from "./requests.js"

/** etcd refuses a transaction of more than 128 operations by default (--max-txn-ops). */
export const MAX_BATCH = 64
/** What a fence holds: who wrote it, for an operator reading etcd. */
const FENCE_VALUE = Buffer.from(`swarm serve commit fence, ${hostname()} pid ${process.pid}`)

export interface Committed {
  readonly created: boolean
}

interface Pending {
  readonly key: Buffer
  readonly value: Buffer
  readonly seconds: number
  readonly done: Deferred.Deferred<Committed, KvError>
}

export interface GroupCommit {
  /** Puts `key` on the lease `leaseFor(seconds)` gives at commit time; created when it did not exist. */
  readonly put: (key: Buffer, value: string, seconds: number) => Effect.Effect<Committed, KvError>
}

/** Splits a batch into rounds of distinct keys: etcd refuses a transaction that puts one key twice. */
const rounds = (batch: ReadonlyArray<Pending>): Array<Array<Pending>> => {
  const out: Array<{ readonly keys: Set<string>; readonly items: Array<Pending> }> = []
  for (const item of batch) {
    const key = item.key.toString()
    const round = out.find((r) => !r.keys.has(key))
    if (round === undefined) out.push({ keys: new Set([key]), items: [item] })
    else (round.keys.add(key), round.items.push(item))
  }
  return out.map((r) => r.items)
}

/** This committer's own key, written by each of its transactions, and its mod_revision after the last one. */
interface Fence {
  readonly key: Buffer
  revision: bigint
}

const putOf = (key: Buffer, value: Buffer, lease: string) => ({
  request_put: { key, value, lease, prev_kv: true }
})

/** What a round's puts fail with: its error, or one naming the defect that ended it. */
const failureOf = (cause: Cause.Cause<KvError>): KvError =>
  Option.getOrElse(
    Cause.failureOption(cause),
    () =>
      new KvError({
        store: STORE,
        reason: "BadResponse",
        detail: `puts not committed, the group commit failed: ${Cause.pretty(cause)}`
      })
  )

/** The lease for a put of TTL `seconds`, held by the transaction until the scope closes (when it ended). */
export type LeaseFor = (seconds: number) => Effect.Effect<string, KvError, Scope.Scope>

/**
 * What the sends of one round learnt: the revision at which a copy of one of them applied unseen (its answer
 * lost, then refused by the fence when sent again). A key created at that revision was created by this round.
 */
interface Unseen {
  revision?: string
}

/** One send of `round`: undefined when etcd refused it (its fence moved, or a key written after the revision known). */
const sender =
  ({ call, client }: Connection, leaseFor: LeaseFor, known: () => bigint, fence: Fence) =>
  (round: ReadonlyArray<Pending>, unseen: Unseen) =>
    Effect.scoped(
      Effect.gen(function* () {
        const leases = new Map<number, string>()
        for (const { seconds } of round)
          if (!leases.has(seconds)) leases.set(seconds, yield* leaseFor(seconds))
        // The fence goes when this committer has been idle for the longest TTL it was given.
        const fenceLease = leases.get(Math.max(...leases.keys()))!
        const revision = known()
        const res = yield* call(`put ${round.length} keys`, () =>
          client.kv.txn({
            compare: [
              { key: fence.key, target: "Mod", result: "Equal", mod_revision: String(fence.revision) },
              ...round.map((p) => ({
                key: p.key,
                target: "Mod" as const,
                result: "Less" as const,
                mod_revision: String(revision + 1n)
              }))
            ],
            success: [
              ...round.map((p) => putOf(p.key, p.value, leases.get(p.seconds)!)),
              putOf(fence.key, FENCE_VALUE, fenceLease)
            ],
            failure: [{ request_range: { key: fence.key } }]
          })
        )
        if (!res.succeeded) {
          const moved = res.responses[0]?.response_range?.kvs[0]?.mod_revision ?? "0"
          // Only this committer writes its fence: moved past its last commit, a copy of this round applied.
          if (BigInt(moved) !== fence.revision) unseen.revision = moved
          fence.revision = BigInt(moved)
          return undefined
        }
        fence.revision = BigInt(res.header.revision)
        return round.map((_, i) => {
          const before = res.responses[i]?.response_put?.prev_kv
          return { created: !before || before.create_revision === unseen.revision }
        })
      })
    )

export const make = (
  conn: Connection,
  leaseFor: LeaseFor,
  /** The last revision this instance saw elsewhere (its totals watch), if it follows one. */
  followed: () => bigint = () => 0n
): Effect.Effect<GroupCommit, never, Scope.Scope> =>
  Effect.gen(function* () {
    const queue = yield* Queue.unbounded<Pending>()
    // Puts still waiting when the store closes are answered, not left hanging.
    const closing = new KvError({ store: STORE, reason: "Unavailable", detail: "the etcd store is closing" })
    yield* Effect.addFinalizer(() =>
      Queue.takeAll(queue).pipe(
        Effect.flatMap((left) =>
          Effect.forEach(left, (p) => Deferred.fail(p.done, closing), { discard: true })
        ),
        Effect.zipRight(Queue.shutdown(queue))
      )
    )

    const fence: Fence = { key: conn.reservedKey(`commit-fence/${randomUUID()}`), revision: 0n }
    const known = () => Followed.known(conn, followed())
    const send = sender(conn, leaseFor, known, fence)

    const commit = (round: ReadonlyArray<Pending>) =>
      Requests.resending(
        send(round, {}),
        (sends) =>
          `${round.length} puts not committed: refused ${sends} times, their keys (or this committer's fence) written meanwhile`
      ).pipe(
        // A defect (a bug) fails the round's puts too: the committer goes on, and no put waits forever.
        Effect.matchCauseEffect({
          onFailure: (cause) =>
            Effect.forEach(round, (p) => Deferred.fail(p.done, failureOf(cause)), { discard: true }),
          onSuccess: (results) =>
            Effect.forEach(round, (p, i) => Deferred.succeed(p.done, results[i]!), { discard: true })
        }),
        Effect.onInterrupt(() =>
          Effect.forEach(round, (p) => Deferred.fail(p.done, closing), { discard: true })
        )
      )

    yield* Queue.takeBetween(queue, 1, MAX_BATCH).pipe(
      Effect.flatMap((batch) => Effect.forEach(rounds([...batch]), commit, { discard: true })),
      Effect.forever,
      Effect.forkScoped
    )

    return {
      put: (key, value, seconds) =>
        Effect.flatMap(Deferred.make<Committed, KvError>(), (done) =>
          Queue.offer(queue, { key, value: Buffer.from(value), seconds, done }).pipe(
            Effect.zipRight(Deferred.await(done))
          )
        )
    }
  })
