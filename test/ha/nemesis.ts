/**
 * The faults of the suite, each injected, held, healed and left to settle,
 * one after another under the client load. Each returns the `Fault` record
 * the checker and the report read (times on the shared wall clock).
 */
import type { Fault } from "./history.js"
import { BACK, type Instance, type Member, type Topology } from "./topology.js"

const now = () => performance.timeOrigin + performance.now()
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

interface Step {
  readonly name: string
  /** Injects the fault; returns what it hit and how to heal it. */
  readonly inject: (topology: Topology) => Promise<{
    readonly targets: ReadonlyArray<string>
    readonly unreachable: ReadonlyArray<string>
    readonly leaderLoss: boolean
    readonly heal: () => Promise<void>
  }>
  readonly holdMs: number
  readonly settleMs: number
}

const follower = async (topology: Topology): Promise<Member> => {
  const leader = await topology.leader()
  return topology.members.find((m) => m !== leader)!
}

const instance = (topology: Topology, i: number): Instance =>
  topology.instances[i % topology.instances.length]!

/** Cuts the picked etcd member off everyone. Back with a higher term (etcd 3.4 without --pre-vote), it makes the
 * leader step down, whichever member it was. */
const isolateMember =
  (pick: (topology: Topology) => Promise<Member>): Step["inject"] =>
  async (t) => {
    const member = await pick(t)
    t.lab.cut(member.node)
    return {
      targets: [member.name],
      unreachable: [],
      leaderLoss: true,
      heal: async () => t.lab.heal(member.node)
    }
  }

export const STEPS: ReadonlyArray<Step> = [
  {
    name: "isolate an etcd follower",
    holdMs: 6_000,
    settleMs: 4_000,
    inject: isolateMember(follower)
  },
  {
    name: "isolate the etcd leader",
    holdMs: 7_000,
    settleMs: 5_000,
    inject: isolateMember((t) => t.leader())
  },
  {
    name: "cut a serve instance off from etcd",
    holdMs: 9_000,
    settleMs: 6_000,
    inject: async (t) => {
      const target = instance(t, 0)
      t.lab.cut(target.node, BACK)
      return {
        targets: [target.name],
        unreachable: [],
        leaderLoss: false,
        heal: async () => t.lab.heal(target.node, BACK)
      }
    }
  },
  {
    name: "isolate a serve instance from all",
    holdMs: 6_000,
    settleMs: 5_000,
    inject: async (t) => {
      const target = instance(t, 1)
      t.lab.cut(target.node)
      return {
        targets: [target.name],
        unreachable: [target.name],
        leaderLoss: false,
        heal: async () => t.lab.heal(target.node)
      }
    }
  },
  {
    name: "kill -9 and restart a serve instance",
    holdMs: 2_000,
    settleMs: 3_000,
    inject: async (t) => {
      const target = instance(t, 2)
      await target.process.stop("SIGKILL")
      return {
        targets: [target.name],
        unreachable: [target.name],
        leaderLoss: false,
        heal: () => t.startInstance(target)
      }
    }
  },
  {
    name: "kill -9 and restart an etcd follower",
    holdMs: 3_000,
    settleMs: 4_000,
    inject: async (t) => {
      const member = await follower(t)
      await member.process.stop("SIGKILL")
      return { targets: [member.name], unreachable: [], leaderLoss: false, heal: () => t.startMember(member) }
    }
  },
  {
    name: "SIGSTOP a serve instance for 5 s",
    holdMs: 5_000,
    settleMs: 3_000,
    inject: async (t) => {
      const target = instance(t, 0)
      target.process.pause()
      return {
        targets: [target.name],
        unreachable: [target.name],
        leaderLoss: false,
        heal: async () => target.process.resume()
      }
    }
  },
  {
    name: "SIGSTOP the etcd leader for 5 s",
    holdMs: 5_000,
    settleMs: 5_000,
    inject: async (t) => {
      const member = await t.leader()
      member.process.pause()
      return {
        targets: [member.name],
        unreachable: [],
        leaderLoss: true,
        heal: async () => member.process.resume()
      }
    }
  }
]

/** Runs `steps` back to back; `healedAt` is when the heal finished (a restart included). */
export const run = async (
  topology: Topology,
  steps: ReadonlyArray<Step>,
  log: (line: string) => void
): Promise<Array<Fault>> => {
  const faults: Array<Omit<Fault, "endedAt">> = []
  for (const step of steps) {
    const startedAt = now()
    const hit = await step.inject(topology)
    log(`fault: ${step.name} (${hit.targets.join(", ")})`)
    await sleep(step.holdMs)
    await hit.heal()
    const healedAt = now()
    log(`healed: ${step.name} after ${Math.round(healedAt - startedAt)}ms`)
    faults.push({
      name: step.name,
      targets: hit.targets,
      unreachable: hit.unreachable,
      leaderLoss: hit.leaderLoss,
      startedAt,
      healedAt
    })
    await sleep(step.settleMs)
  }
  const end = now()
  return faults.map((fault, i) => ({ ...fault, endedAt: faults[i + 1]?.startedAt ?? end }))
}
