/**
 * Long-poll fan-out: every waiter on a cluster shares one store subscription
 * and one encoded answer, and a change answers all of them in one pass.
 *
 * - A cluster with waiters has a `Group`: one `watch` of its prefix, forked
 *   when the first waiter comes and interrupted when the last one leaves.
 *   Each snapshot is encoded once (`answerOf`) and handed to every waiter
 *   whose index is behind it; a waiter is a plain record around its request
 *   fiber's `Effect.async` callback, with no stream, fiber or `list()` of
 *   its own.
 * - Deadlines live in one heap, swept by one scoped fiber on Effect's
 *   `Clock` (so `TestClock` drives them); the waiters of a cluster that
 *   time out together share one `list()`.
 * - A client that hangs up is removed at once (the request fiber is
 *   interrupted; its canceller drops the record).
 */
import { Clock, Duration, Effect, type Fiber, FiberId, Runtime, type Scope, Stream } from "effect"
import * as ChangeSignal from "../internal/changeSignal.js"
import type { KvError, KvSnapshot, KvStoreShape } from "../KvStore.js"
import type { Answer } from "./Api.js"

export interface Wait {
  /** The token asked for (groups are by it). */
  readonly token: string
  /** The cluster whose prefix is watched (the token itself, or what a read-only token stands for). */
  readonly watched: string
  /** Redacted, for logs. */
  readonly cluster: string
  /** The client's last index: answer once the cluster's differs. */
  readonly index: number
  readonly waitMillis: number
  /** The client's address, for per-client counts. */
  readonly client: string
}

export interface LongPolls {
  /** Answers when the cluster's index differs from `index`, or with the current list when the wait ends. */
  readonly wait: (wait: Wait) => Effect.Effect<Answer, KvError>
  /**
   * The same without a fiber, for the listener: when the cluster already has waiters (so the token is
   * resolved and the view is current) it registers `deliver` and returns a canceller; otherwise
   * `undefined`, and the caller runs `wait`.
   */
  readonly tryWait: (wait: Wait, deliver: (answer: Answer) => void) => (() => void) | undefined
  /** Answers every waiter now, and every later long-poll at once (shutdown). */
  readonly drain: Effect.Effect<void>
  /** Waiting right now. */
  readonly size: () => number
  /** Waiting right now from one client address. */
  readonly sizeOf: (client: string) => number
}

export interface Options {
  readonly store: KvStoreShape
  /** The shared, encoded answer of a snapshot (the same object for every waiter). */
  readonly answerOf: (snapshot: KvSnapshot, cluster: string) => Answer
  /** Turns a store failure into its (logged) 503. */
  readonly storeProblem: (error: KvError) => Effect.Effect<Answer>
}

interface Waiter {
  readonly wait: Wait
  readonly deadline: number
  readonly group: Group
  readonly deliver: (answer: Answer) => void
  done: boolean
}

interface Group {
  readonly token: string
  readonly watched: string
  readonly cluster: string
  last: KvSnapshot | undefined
  readonly waiters: Set<Waiter>
  fiber: Fiber.RuntimeFiber<void, never> | undefined
  closed: boolean
}

const prefixOf = (token: string) => `${token}/`

/** The shared state of one `make`: the groups, the counts and the deadline heap. */
interface State {
  readonly options: Options
  readonly runFork: <A, E>(effect: Effect.Effect<A, E>) => Fiber.RuntimeFiber<A, E>
  readonly clock: Clock.Clock
  readonly groups: Map<string, Group>
  readonly perClient: Map<string, number>
  readonly deadlines: DeadlineHeap
  /** Notified when a deadline comes before the one the sweeper sleeps towards. */
  readonly earlier: ChangeSignal.ChangeSignal
  planned: number
  waiting: number
  draining: boolean
}

const listing = (s: State, token: string, cluster: string) =>
  Effect.map(s.options.store.list(prefixOf(token)), (snapshot) => s.options.answerOf(snapshot, cluster))

const count = (s: State, client: string, delta: number) => {
  s.waiting += delta
  const n = (s.perClient.get(client) ?? 0) + delta
  if (n === 0) s.perClient.delete(client)
  else s.perClient.set(client, n)
}

const close = (s: State, group: Group) => {
  if (group.closed) return
  group.closed = true
  if (s.groups.get(group.token) === group) s.groups.delete(group.token)
  group.fiber?.unsafeInterruptAsFork(FiberId.none)
}

/** Takes a waiter out (answered, timed out or gone); closes its group when it was the last. */
const release = (s: State, waiter: Waiter) => {
  if (waiter.done) return false
  waiter.done = true
  count(s, waiter.wait.client, -1)
  waiter.group.waiters.delete(waiter)
  if (waiter.group.waiters.size === 0) close(s, waiter.group)
  // Clients that hang up leave records in the heap until their deadline: drop them in bulk.
  if (s.deadlines.size() > 2 * s.waiting + 1024) s.deadlines.compact()
  return true
}

/** Keeps the group's view at the newest snapshot it saw (watch or list); false when `snapshot` is older. */
const advance = (group: Group | undefined, snapshot: KvSnapshot) => {
  if (group === undefined || (group.last !== undefined && group.last.index >= snapshot.index)) return false
  group.last = snapshot
  return true
}

/** One pass over the group: the same answer object for each waiter behind the snapshot. */
const publish = (s: State, group: Group, snapshot: KvSnapshot) => {
  const first = group.last === undefined
  // A snapshot older than a list already answered (the watch trails it) tells nobody anything.
  if (!advance(group, snapshot)) return
  let answer: Answer | undefined
  for (const waiter of group.waiters) {
    // The first view also answers a client ahead of it (its index is from another store's epoch).
    if (first ? waiter.wait.index === snapshot.index : waiter.wait.index >= snapshot.index) continue
    answer ??= s.options.answerOf(snapshot, group.cluster)
    if (release(s, waiter)) waiter.deliver(answer)
  }
}

const fail = (s: State, group: Group, answer: Answer) => {
  for (const waiter of [...group.waiters]) if (release(s, waiter)) waiter.deliver(answer)
  close(s, group)
}

const subscribe = (s: State, group: Group): Effect.Effect<void> =>
  s.options.store.watch(prefixOf(group.watched)).pipe(
    Stream.runForEach((snapshot) => Effect.sync(() => publish(s, group, snapshot))),
    Effect.catchAll((error) => Effect.map(s.options.storeProblem(error), (answer) => fail(s, group, answer)))
  )

/** The cluster's group, made (and its watch forked) by the first waiter. */
const groupOf = (s: State, wait: Wait): Group => {
  const existing = s.groups.get(wait.token)
  if (existing !== undefined) return existing
  const group: Group = {
    token: wait.token,
    watched: wait.watched,
    cluster: wait.cluster,
    last: undefined,
    waiters: new Set(),
    fiber: undefined,
    closed: false
  }
  s.groups.set(wait.token, group)
  group.fiber = s.runFork(subscribe(s, group))
  return group
}

/** Answers at once from a current view, or registers the waiter; returns its canceller. */
const register = (s: State, wait: Wait, deliver: (answer: Answer) => void): (() => void) => {
  // A group always has waiters (it closes with its last one), so an early answer leaks none.
  const last = s.groups.get(wait.token)?.last
  if (last !== undefined && last.index > wait.index) {
    deliver(s.options.answerOf(last, wait.cluster))
    return () => {}
  }
  const group = groupOf(s, wait)
  const waiter: Waiter = {
    wait,
    deadline: s.clock.unsafeCurrentTimeMillis() + wait.waitMillis,
    group,
    deliver,
    done: false
  }
  group.waiters.add(waiter)
  count(s, wait.client, 1)
  s.deadlines.push(waiter)
  if (waiter.deadline < s.planned) s.earlier.unsafeNotify()
  return () => {
    release(s, waiter)
  }
}

const tryWait = (s: State, wait: Wait, deliver: (answer: Answer) => void) => {
  const last = s.groups.get(wait.token)?.last
  // Only a client that is level with the view waits here; any other is asked through the store.
  if (s.draining || last === undefined || last.index !== wait.index) return undefined
  return register(s, wait, deliver)
}

const enqueue = (s: State, wait: Wait) =>
  Effect.async<Answer>((resume) => {
    const cancel = register(s, wait, (answer) => resume(Effect.succeed(answer)))
    return Effect.sync(cancel)
  })

const waitFor = (s: State, wait: Wait): Effect.Effect<Answer, KvError> =>
  Effect.suspend(() => {
    if (s.draining) return listing(s, wait.watched, wait.cluster)
    const group = s.groups.get(wait.token)
    const last = group?.last
    // The group's view may trail a commit a plain GET already saw, the client's index may come
    // from another store, or the view may be stale (this process was paused, or cut off from the
    // store): answer a client that is not level with the view from the store itself.
    if (last !== undefined && last.index !== wait.index) {
      const started = s.clock.unsafeCurrentTimeMillis()
      return Effect.flatMap(s.options.store.list(prefixOf(wait.watched)), (snapshot) => {
        advance(group, snapshot)
        // The wait counts from the request, so a slow store does not stretch it past wait + one read.
        const left = wait.waitMillis - (s.clock.unsafeCurrentTimeMillis() - started)
        return snapshot.index !== wait.index || left <= 0
          ? Effect.succeed(s.options.answerOf(snapshot, wait.cluster))
          : enqueue(s, { ...wait, waitMillis: left })
      })
    }
    return enqueue(s, wait)
  })

/** Answers a batch of waiters with their cluster's current list: one `list()` per cluster. */
const answerWithList = (s: State, waiters: ReadonlyArray<Waiter>) => {
  const byGroup = new Map<Group, Array<Waiter>>()
  for (const waiter of waiters) {
    const list = byGroup.get(waiter.group)
    if (list === undefined) byGroup.set(waiter.group, [waiter])
    else list.push(waiter)
  }
  return Effect.forEach(
    byGroup,
    ([group, members]) =>
      s.options.store.list(prefixOf(group.watched)).pipe(
        Effect.map((snapshot) => {
          // Its clients come back with this index: level with the view, so they wait.
          advance(group, snapshot)
          return s.options.answerOf(snapshot, group.cluster)
        }),
        Effect.catchAll(s.options.storeProblem),
        Effect.map((answer) => {
          for (const waiter of members) if (release(s, waiter)) waiter.deliver(answer)
        })
      ),
    { discard: true }
  )
}

/** One round of the deadline fiber: answers the due waiters, then sleeps to the next deadline or an earlier one. */
const sweep = (s: State) =>
  Effect.gen(function* () {
    const now = yield* Clock.currentTimeMillis
    const due: Array<Waiter> = []
    for (let top = s.deadlines.peek(); top !== undefined && (top.done || top.deadline <= now);) {
      s.deadlines.pop()
      if (!top.done) due.push(top)
      top = s.deadlines.peek()
    }
    if (due.length > 0) yield* answerWithList(s, due)
    const next = s.deadlines.peek()
    s.planned = next === undefined ? Number.POSITIVE_INFINITY : next.deadline
    const seen = s.earlier.version()
    yield* next === undefined
      ? s.earlier.awaitChange(seen)
      : Effect.raceFirst(
          Effect.sleep(Duration.millis(Math.max(0, next.deadline - now))),
          s.earlier.awaitChange(seen)
        )
  })

const drain = (s: State) =>
  Effect.suspend(() => {
    s.draining = true
    const all: Array<Waiter> = []
    for (const group of s.groups.values()) for (const waiter of group.waiters) all.push(waiter)
    return answerWithList(s, all)
  })

export const make = (options: Options): Effect.Effect<LongPolls, never, Scope.Scope> =>
  Effect.gen(function* () {
    const s: State = {
      options,
      runFork: Runtime.runFork(yield* Effect.runtime<never>()),
      clock: yield* Effect.clock,
      groups: new Map(),
      perClient: new Map(),
      deadlines: new DeadlineHeap(),
      earlier: ChangeSignal.make(),
      planned: Number.POSITIVE_INFINITY,
      waiting: 0,
      draining: false
    }
    const sweeping = sweep(s)
    yield* Effect.forkScoped(Effect.forever(sweeping))
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        for (const group of [...s.groups.values()]) close(s, group)
      })
    )
    return {
      wait: (wait) => waitFor(s, wait),
      tryWait: (wait, deliver) => tryWait(s, wait, deliver),
      drain: drain(s),
      size: () => s.waiting,
      sizeOf: (client) => s.perClient.get(client) ?? 0
    }
  })

/** A binary min-heap of waiters by deadline; released waiters are skipped when they surface. */
class DeadlineHeap {
  private readonly items: Array<Waiter> = []

  size(): number {
    return this.items.length
  }

  /** Drops released waiters and restores the heap order. */
  compact(): void {
    const live = this.items.filter((w) => !w.done)
    this.items.length = 0
    for (const w of live) this.push(w)
  }

  peek(): Waiter | undefined {
    return this.items[0]
  }

  push(waiter: Waiter): void {
    const a = this.items
    a.push(waiter)
    let i = a.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (a[parent]!.deadline <= a[i]!.deadline) break
      ;[a[parent], a[i]] = [a[i]!, a[parent]!]
      i = parent
    }
  }

  pop(): Waiter | undefined {
    const a = this.items
    const top = a[0]
    const last = a.pop()
    if (a.length > 0 && last !== undefined) {
      a[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let min = i
        if (l < a.length && a[l]!.deadline < a[min]!.deadline) min = l
        if (r < a.length && a[r]!.deadline < a[min]!.deadline) min = r
        if (min === i) break
        ;[a[min], a[i]] = [a[i]!, a[min]!]
        i = min
      }
    }
    return top
  }
}
