/**
 * A private network of Linux network namespaces for fault-injection tests.
 *
 * - One "switch" namespace holds a bridge per network; nothing else lives in
 *   it (no address, no route, forwarding off), so nothing can route out.
 * - Each node (an etcd member, a `swarm serve`, a client) gets its own
 *   namespace and one veth per network it joins, with an address in that
 *   network's /24 (`10.199.<network>.<host>`). The only routes are the
 *   connected /24s: there is no default route anywhere, and the root
 *   namespace gets no address and no interface.
 * - Processes run inside a node with `ip netns exec`, which execs into the
 *   command, so the PID we hold is the process itself (signals reach it).
 * - `cut` takes a node's veth out of its bridge: the node keeps its carrier
 *   and its address, and every packet to or from it is silently dropped, as
 *   by a cable cut somewhere in the network (no RST, no ICMP). `heal` puts
 *   it back.
 * - Names carry our PID. `dispose` removes every namespace (their veths go
 *   with them); it also runs on process exit, and a new lab first removes
 *   the namespaces of test processes that no longer run.
 */
import { execFileSync, spawnSync } from "node:child_process"
import { gate, onPath } from "./gate.js"
import { ManagedProcess } from "./kv-server.js"

const PREFIX = "shn"

const ip = (...args: ReadonlyArray<string>): string => {
  try {
    return execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? ""
    throw new Error(`ip ${args.join(" ")} failed: ${stderr.trim() || (error as Error).message}`)
  }
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

const namespaces = (): Array<string> =>
  ip("netns", "list")
    .split("\n")
    .map((line) => line.split(" ")[0]!)
    .filter((name) => name !== "")

/** Removes the namespaces left by test processes that died without cleaning up. */
const removeStale = () => {
  for (const name of namespaces()) {
    const match = new RegExp(`^${PREFIX}(\\d+)-`).exec(name)
    if (match !== null && !alive(Number(match[1]))) spawnSync("ip", ["netns", "del", name])
  }
}

let checked: boolean | undefined
/**
 * True when network namespaces can be made here (root and iproute2). With
 * `CI=true` a missing capability throws (the suite fails); otherwise it warns
 * loudly and the caller skips.
 */
export const netnsAvailable = (): boolean => {
  if (checked === undefined) {
    const probe = `${PREFIX}${process.pid}-probe`
    checked =
      process.platform === "linux" &&
      process.getuid?.() === 0 &&
      onPath("ip", ["-V"]) &&
      spawnSync("ip", ["netns", "add", probe]).status === 0 &&
      spawnSync("ip", ["netns", "del", probe]).status === 0
  }
  return gate(
    "network namespaces",
    checked,
    "run the tests as root on Linux with iproute2 (`ip netns`) installed"
  )
}

export interface Node {
  readonly name: string
  /** Its namespace, for `ip netns exec`. */
  readonly ns: string
  /** Its address on `network` (throws when it is not on it). */
  readonly address: (network: string) => string
  readonly networks: ReadonlyArray<string>
}

export interface Lab {
  /** `shn<pid>-<label>`: every namespace of this lab starts with it. */
  readonly id: string
  /** A new node in its own namespace, with one interface on each network (created on first use). */
  readonly node: (name: string, networks: ReadonlyArray<string>) => Node
  /** Drops every packet between `node` and `network` (all its networks when omitted). */
  readonly cut: (node: Node, network?: string) => void
  /** Undoes `cut` (all its networks when omitted). */
  readonly heal: (node: Node, network?: string) => void
  /** A process inside `node`'s namespace, logging to `logFile`; call `start()` on it. */
  readonly process: (
    node: Node,
    command: string,
    args: ReadonlyArray<string>,
    logFile: string
  ) => ManagedProcess
  /** Runs a command inside `node`'s namespace to its end; returns stdout. */
  readonly exec: (node: Node, command: string, args: ReadonlyArray<string>, timeoutMs?: number) => string
  /** The argv that runs `command` inside `node` (for spawning it yourself). */
  readonly argv: (node: Node, command: string, args: ReadonlyArray<string>) => Array<string>
  /** Removes every namespace (stop the processes inside first). Idempotent. */
  readonly dispose: () => void
}

const live = new Set<() => void>()
process.once("exit", () => {
  for (const dispose of live) dispose()
})

/** A new lab; `label` tells labs of one process apart (letters and digits, short). */
export const makeLab = (label: string): Lab => {
  if (!/^[a-z0-9]{1,8}$/.test(label)) throw new Error(`lab label must be 1-8 of [a-z0-9], got "${label}"`)
  removeStale()
  const id = `${PREFIX}${process.pid}-${label}`
  const sw = `${id}-sw`
  const created: Array<string> = []
  const networks = new Map<string, number>()
  const nodes = new Map<string, Node>()
  let disposed = false

  const addNs = (name: string) => {
    ip("netns", "add", name)
    created.push(name)
    ip("-n", name, "link", "set", "lo", "up")
  }
  addNs(sw)

  const network = (name: string): number => {
    const existing = networks.get(name)
    if (existing !== undefined) return existing
    const index = networks.size
    if (index > 200) throw new Error("too many networks")
    ip("-n", sw, "link", "add", `br${index}`, "type", "bridge", "forward_delay", "0")
    ip("-n", sw, "link", "set", `br${index}`, "up")
    networks.set(name, index)
    return index
  }

  // The switch-side end of a node's veth on a network.
  const port = (node: Node, net: string) => `p${[...nodes.keys()].indexOf(node.name)}n${networks.get(net)}`

  const node = (name: string, on: ReadonlyArray<string>): Node => {
    if (!/^[a-z0-9]{1,10}$/.test(name)) throw new Error(`node name must be 1-10 of [a-z0-9], got "${name}"`)
    if (nodes.has(name)) throw new Error(`node ${name} exists already`)
    const host = nodes.size + 2
    if (host > 250) throw new Error("too many nodes")
    const ns = `${id}-${name}`
    addNs(ns)
    const addresses = new Map<string, string>()
    const made: Node = {
      name,
      ns,
      networks: [...on],
      address: (net) => {
        const address = addresses.get(net)
        if (address === undefined) throw new Error(`node ${name} is not on network ${net}`)
        return address
      }
    }
    nodes.set(name, made)
    for (const net of on) {
      const index = network(net)
      const address = `10.199.${index}.${host}`
      const sidePort = port(made, net)
      ip("-n", sw, "link", "add", sidePort, "type", "veth", "peer", "name", `eth${index}`, "netns", ns)
      ip("-n", sw, "link", "set", sidePort, "master", `br${index}`, "up")
      ip("-n", ns, "addr", "add", `${address}/24`, "dev", `eth${index}`)
      ip("-n", ns, "link", "set", `eth${index}`, "up")
      addresses.set(net, address)
    }
    return made
  }

  const each = (target: Node, net: string | undefined, f: (sidePort: string, index: number) => void) => {
    for (const name of net === undefined ? target.networks : [net]) {
      const index = networks.get(name)
      if (index === undefined || !target.networks.includes(name))
        throw new Error(`node ${target.name} is not on network ${name}`)
      f(port(target, name), index)
    }
  }

  const argv = (target: Node, command: string, args: ReadonlyArray<string>) => [
    "netns",
    "exec",
    target.ns,
    command,
    ...args
  ]

  const dispose = () => {
    if (disposed) return
    disposed = true
    live.delete(dispose)
    for (const name of created.reverse()) spawnSync("ip", ["netns", "del", name])
  }
  live.add(dispose)

  return {
    id,
    node,
    cut: (target, net) => each(target, net, (sidePort) => ip("-n", sw, "link", "set", sidePort, "nomaster")),
    heal: (target, net) =>
      each(target, net, (sidePort, index) => ip("-n", sw, "link", "set", sidePort, "master", `br${index}`)),
    process: (target, command, args, logFile) =>
      new ManagedProcess("ip", argv(target, command, args), logFile),
    exec: (target, command, args, timeoutMs = 15_000) =>
      execFileSync("ip", argv(target, command, args), {
        encoding: "utf8",
        timeout: timeoutMs,
        stdio: ["ignore", "pipe", "pipe"]
      }),
    argv: (target, command, args) => ["ip", ...argv(target, command, args)],
    dispose
  }
}
