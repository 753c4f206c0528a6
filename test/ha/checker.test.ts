/**
 * The history checker on hand-made histories: each property is caught by a
 * history that breaks it, and let through by its lawful neighbour (an
 * unknown write, an expired TTL, a leader loss, an unreachable instance).
 */
import { assert, describe, it } from "@effect/vitest"
import { check, DEFAULT_BOUNDS, deadline, type Property } from "./checker.js"
import type { Fault, History, Op } from "./history.js"

const C = "c1"
const A = "10.0.0.1:2375"
const TTL = 8

let clock = 0
const op = (fields: Partial<Op> & Pick<Op, "kind" | "invokedAt" | "completedAt">): Op => ({
  client: 0,
  instance: "s1",
  cluster: C,
  outcome: "ok",
  status: 200,
  ...fields
})
const register = (at: number, outcome: Op["outcome"] = "ok", took = 10) =>
  op({
    kind: "register",
    address: A,
    ttl: TTL,
    invokedAt: at,
    completedAt: at + took,
    outcome,
    status: outcome === "ok" ? 200 : 503,
    ...(outcome === "ok" ? {} : { retryAfter: "1" })
  })
const remove = (at: number, outcome: Op["outcome"] = "ok") =>
  op({
    kind: "delete",
    address: A,
    invokedAt: at,
    completedAt: at + 10,
    outcome,
    status: outcome === "ok" ? 200 : 503,
    ...(outcome === "ok" ? {} : { retryAfter: "1" })
  })
const list = (at: number, entries: ReadonlyArray<string>, fields: Partial<Op> = {}) =>
  op({ kind: "list", invokedAt: at, completedAt: at + 10, entries, index: ++clock, ...fields })

const fault = (fields: Partial<Fault>): Fault => ({
  name: "f",
  targets: [],
  unreachable: [],
  leaderLoss: false,
  startedAt: 0,
  healedAt: 0,
  endedAt: 0,
  ...fields
})

const found = (ops: ReadonlyArray<Op>, faults: ReadonlyArray<Fault> = []): Array<Property> =>
  check({ ops, faults } satisfies History).map((v) => v.property)

describe("HA history checker", () => {
  it("a clean history has no violation", () => {
    assert.deepStrictEqual(found([register(0), list(100, [A]), remove(200), list(300, [])]), [])
  })

  it("lost: an acknowledged, live, undeleted entry missing from a list", () => {
    assert.deepStrictEqual(found([register(0), list(1_000, [])]), ["lost"])
    // Its TTL ran out: gone is right.
    assert.deepStrictEqual(found([register(0), list(TTL * 1000 + 100, [])]), [])
    // Not acknowledged yet when the list was sent: either way.
    assert.deepStrictEqual(found([register(0, "ok", 500), list(100, [])]), [])
    // A delete was tried: either way.
    assert.deepStrictEqual(found([register(0), remove(500, "unknown"), list(1_000, [])]), [])
  })

  it("lost: a DELETE answered 404 did not happen, and the violation names it", () => {
    const refused = { ...remove(500), outcome: "fail" as const, status: 404 }
    const violations = check({ ops: [register(0), refused, list(1_000, [])], faults: [] })
    assert.deepStrictEqual(
      violations.map((v) => v.property),
      ["lost"]
    )
    assert.include(violations[0]!.detail, `a DELETE of it sent at ${refused.invokedAt} (s1) was answered 404`)
  })

  it("lost: a long-poll answer may trail the write by the propagation delay, no more", () => {
    const poll = (end: number, entries: ReadonlyArray<string>) =>
      op({ kind: "poll", invokedAt: end - 2_000, completedAt: end, entries, index: ++clock, waitMs: 3_000 })
    assert.deepStrictEqual(found([register(0), poll(500, [])]), [])
    assert.deepStrictEqual(found([register(0), poll(2_000, [])]), ["lost"])
    // An instance paused meanwhile may answer what it read before the pause, if that was during the request.
    const paused = fault({ unreachable: ["s1"], startedAt: 200, healedAt: 1_900 })
    assert.deepStrictEqual(found([register(0), poll(2_000, [])], [paused]), [])
    assert.deepStrictEqual(found([register(0), poll(2_000 + 2_000, [])], [paused]), ["lost"])
  })

  it("resurrected: listed after an acknowledged DELETE, unless a put of unknown outcome may land after it", () => {
    assert.deepStrictEqual(found([register(0), remove(100), list(300, [A])]), ["resurrected"])
    assert.deepStrictEqual(found([register(0, "unknown"), remove(100), list(300, [A])]), [])
    // That put's window has passed too.
    const late = DEFAULT_BOUNDS.unknownWindowMs + TTL * 1000 + DEFAULT_BOUNDS.expiryGraceMs + 1_000
    assert.deepStrictEqual(found([register(0, "unknown"), remove(100), list(late, [A])]), ["resurrected"])
  })

  it("lateExpiry: listed past TTL + grace, stretched by a leader loss while it lived", () => {
    const past = TTL * 1000 + DEFAULT_BOUNDS.expiryGraceMs + 500
    assert.deepStrictEqual(found([register(0), list(past, [A])]), ["lateExpiry"])
    const loss = fault({ leaderLoss: true, startedAt: 2_000, healedAt: 6_000 })
    assert.deepStrictEqual(found([register(0), list(past, [A])], [loss]), [])
    assert.isAbove(deadline(register(0), [loss], DEFAULT_BOUNDS), 6_000 + TTL * 1000)
    // A loss after the entry expired stretches nothing.
    const after = fault({ leaderLoss: true, startedAt: past + 100, healedAt: past + 5_000 })
    assert.deepStrictEqual(found([register(0), list(past + 6_000, [A])], [after]), ["lateExpiry"])
  })

  it("lateExpiry: says whether etcd had deleted the entry (a stale answer) or not yet (a late lease)", () => {
    const past = TTL * 1000 + DEFAULT_BOUNDS.expiryGraceMs + 500
    const read = list(past, [A])
    const until = deadline(register(0), [], DEFAULT_BOUNDS)
    const detail = (deletedAt: number) =>
      check({
        ops: [register(0), read],
        faults: [],
        deletions: [{ cluster: C, address: A, revision: 9, at: deletedAt }]
      }).map((v) => v.detail)
    const [stale] = detail(until + 200)
    assert.match(stale!, /etcd deleted it at \d+, 200ms past the deadline \(the instance answered stale\)/)
    const [late] = detail(read.completedAt + 300)
    assert.match(late!, /etcd had not deleted it when the read was answered/)
    // Without the watchers' record the detail says nothing of etcd.
    const [plain] = check({ ops: [register(0), read], faults: [] }).map((v) => v.detail)
    assert.notMatch(plain!, /etcd/)
  })

  it("lateExpiry: stretched by every election etcd logged while the entry lived, asked for by a fault or not", () => {
    const { expiryGraceMs, leaseExtendMs } = DEFAULT_BOUNDS
    // Elected 5 s after the write (a member back with a higher term forced it): renewed to TTL + extend.
    const electedAt = 5_000
    const renewedUntil = electedAt + leaseExtendMs + TTL * 1000 + expiryGraceMs
    const history = (reads: ReadonlyArray<Op>): History => ({
      ops: [register(0), ...reads],
      faults: [],
      elections: [electedAt]
    })
    const verdict = (at: number) => check(history([list(at, [A])])).map((v) => v.property)
    assert.deepStrictEqual(verdict(renewedUntil - 100), [])
    assert.deepStrictEqual(verdict(renewedUntil + 100), ["lateExpiry"])
    assert.strictEqual(deadline(register(0), [], DEFAULT_BOUNDS, [electedAt]), renewedUntil)
    // An election before the write, or after the entry was due to go, renews nothing of it.
    const plain = deadline(register(0), [], DEFAULT_BOUNDS)
    assert.strictEqual(deadline(register(1_000), [], DEFAULT_BOUNDS, [500]), plain + 1_000)
    assert.strictEqual(deadline(register(0), [], DEFAULT_BOUNDS, [plain + 1]), plain)
    // Renewed into a second election, renewed again by it.
    const second = renewedUntil - 1_000
    assert.isAbove(deadline(register(0), [], DEFAULT_BOUNDS, [second, electedAt]), renewedUntil)
  })

  it("staleLessor: with keep-alive leases on a buggy etcd, a refresh near a leader change may not renew", () => {
    const { staleLessorMs } = DEFAULT_BOUNDS
    const refresh = (at: number) => ({ ...register(at), kind: "refresh" as const })
    // Registered at 0, refreshed at 6 s, one second after an election; gone at 10 s (before 6 s + TTL).
    const electedAt = 5_000
    const ops = [register(0), refresh(6_000), list(10_000, [])]
    const verdict = (history: Partial<History>) =>
      check({ ops, faults: [], elections: [electedAt], ...history }).map((v) => v.property)
    assert.deepStrictEqual(verdict({ staleLessor: true }), ["staleLessor"])
    // On an etcd without the bug, or with leases not renewed by keep-alives: lost.
    assert.deepStrictEqual(verdict({}), ["lost"])
    // A refresh far from any election renews for sure: lost again.
    assert.deepStrictEqual(verdict({ staleLessor: true, elections: [6_000 - staleLessorMs - 100] }), ["lost"])
    // A leader-loss fault spanning the election keeps the old leader's clock suspect until after its heal.
    const paused = fault({ leaderLoss: true, startedAt: 0, healedAt: 8_000 })
    const late = [register(0), refresh(electedAt + staleLessorMs + 1_000), list(14_000, [])]
    const lateVerdict = (faults: ReadonlyArray<Fault>) =>
      check({ ops: late, faults, elections: [electedAt], staleLessor: true }).map((v) => v.property)
    assert.deepStrictEqual(lateVerdict([paused]), ["staleLessor"])
    assert.deepStrictEqual(lateVerdict([]), ["lost"])
    // A registration writes a lease through raft: it protects whatever the lessor does.
    const registered = check({
      ops: [register(0), register(6_000), list(10_000, [])],
      faults: [],
      elections: [electedAt],
      staleLessor: true
    })
    assert.deepStrictEqual(
      registered.map((v) => v.property),
      ["lost"]
    )
  })

  it("phantom: an entry nobody wrote", () => {
    assert.deepStrictEqual(found([register(0), list(100, [A, "10.9.9.9:1"])]), ["phantom"])
    // Written only after the list answered: a phantom too.
    assert.deepStrictEqual(found([list(100, [A]), register(500)]), ["phantom"])
  })

  it("indexBackwards: per instance and cluster, for answers that do not overlap", () => {
    const a = list(0, [], { index: 10 })
    assert.deepStrictEqual(found([a, list(100, [], { index: 9 })]), ["indexBackwards"])
    // Another instance, another cluster, or overlapping requests: not ordered.
    assert.deepStrictEqual(found([a, list(100, [], { index: 9, instance: "s2" })]), [])
    assert.deepStrictEqual(found([a, list(100, [], { index: 9, cluster: "c2" })]), [])
    assert.deepStrictEqual(found([a, list(5, [], { index: 9 })]), [])
  })

  it("hung: a long-poll unanswered past its wait + bound, unless its instance was unreachable", () => {
    const limit = 3_000 + DEFAULT_BOUNDS.pollBoundMs
    const poll = op({
      kind: "poll",
      invokedAt: 0,
      completedAt: limit + 1,
      waitMs: 3_000,
      entries: [],
      index: 1
    })
    assert.deepStrictEqual(found([poll]), ["hung"])
    assert.deepStrictEqual(found([{ ...poll, completedAt: limit - 1 }]), [])
    const paused = fault({ unreachable: ["s1"], startedAt: 1_000, healedAt: 5_000 })
    assert.deepStrictEqual(found([poll], [paused]), [])
    const timedOut = op({
      kind: "poll",
      invokedAt: 0,
      completedAt: 100,
      waitMs: 3_000,
      outcome: "unknown",
      timedOut: true
    })
    assert.deepStrictEqual(found([{ ...timedOut, status: undefined } as Op]), ["hung"])
  })

  it("slow: a write or list unanswered past the bound", () => {
    const slow = register(0, "ok", DEFAULT_BOUNDS.answerBoundMs + 1)
    assert.deepStrictEqual(found([slow]), ["slow"])
    assert.deepStrictEqual(found([slow], [fault({ unreachable: ["s1"], startedAt: 0, healedAt: 100 })]), [])
  })

  it("bad5xx: a 5xx other than 503, or a 503 without Retry-After", () => {
    const failed = register(0, "unknown")
    assert.deepStrictEqual(found([failed]), [])
    assert.deepStrictEqual(found([{ ...failed, status: 500 }]), ["bad5xx"])
    const { retryAfter: _, ...bare } = failed
    assert.deepStrictEqual(found([bare]), ["bad5xx"])
  })
})
