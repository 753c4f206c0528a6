/**
 * Real `swarm` processes for the token end-to-end tests: spawn the built
 * dist/swarm.cjs, collect its output line by line with arrival times, wait
 * for lines or exits with bounded real timeouts, and stop only the processes
 * started here (by handle).
 */
import { type ChildProcess, spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import * as Http from "node:http"
import * as Https from "node:https"

import { requireBuilt, SWARM } from "./gate.js"

export { requireBuilt, SWARM }

export interface Line {
  readonly text: string
  /** `performance.now()` when the line arrived. */
  readonly at: number
}

export interface Exited {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

export interface Swarm {
  readonly args: ReadonlyArray<string>
  readonly child: ChildProcess
  readonly stdout: Array<Line>
  readonly stderr: Array<Line>
  readonly exited: Promise<Exited>
  /** Resolves with the first line (past or future) on `stream` that matches; rejects after `timeoutMs`. */
  readonly waitFor: (
    stream: "stdout" | "stderr",
    predicate: (text: string) => boolean,
    timeoutMs?: number
  ) => Promise<Line>
  readonly running: () => boolean
  readonly kill: (signal: NodeJS.Signals) => void
  /** Everything printed so far, for failure messages. */
  readonly transcript: () => string
}

const started = new Set<Swarm>()

/** The environment for a child: ours without any SWARM_* setting of the person running the tests. */
const childEnv = (extra: Record<string, string>): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith("SWARM_")) env[key] = value
  return { ...env, NO_COLOR: "1", ...extra }
}

const withTimeout = <A>(promise: Promise<A>, timeoutMs: number, what: () => string): Promise<A> =>
  new Promise<A>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs}ms: ${what()}`)), timeoutMs)
    promise.then(
      (value) => (clearTimeout(timer), resolve(value)),
      (error) => (clearTimeout(timer), reject(error))
    )
  })

/**
 * Runs the built CLI. `via` is a command that runs it for us, such as `["ip", "netns", "exec", ns]` (one that
 * execs, so the PID held is the CLI's own and signals reach it).
 */
export const spawnSwarm = (
  args: ReadonlyArray<string>,
  env: Record<string, string> = {},
  via: ReadonlyArray<string> = []
): Swarm => spawnCommand([...via, process.execPath, SWARM, ...args], env, args)

/** Any command, with the same line collection as `spawnSwarm`; `args` is what transcripts print after `swarm`. */
export const spawnCommand = (
  argv: ReadonlyArray<string>,
  env: Record<string, string> = {},
  args: ReadonlyArray<string> = argv
): Swarm => {
  const child = spawn(argv[0]!, argv.slice(1), {
    env: childEnv(env),
    stdio: ["ignore", "pipe", "pipe"]
  })
  const stdout: Array<Line> = []
  const stderr: Array<Line> = []
  const listeners = new Set<() => void>()
  const collect = (stream: NodeJS.ReadableStream, into: Array<Line>) => {
    let pending = ""
    stream.setEncoding("utf8")
    stream.on("data", (chunk: string) => {
      const at = performance.now()
      pending += chunk
      const parts = pending.split("\n")
      pending = parts.pop()!
      for (const text of parts) into.push({ text, at })
      listeners.forEach((notify) => notify())
    })
    stream.on("end", () => {
      if (pending !== "") into.push({ text: pending, at: performance.now() })
      pending = ""
      listeners.forEach((notify) => notify())
    })
  }
  collect(child.stdout!, stdout)
  collect(child.stderr!, stderr)
  let exit: Exited | undefined
  // "close" comes after the pipes drained, so no output is lost.
  const exited = new Promise<Exited>((resolve) =>
    child.on("close", (code, signal) => {
      exit = { code, signal }
      resolve(exit)
    })
  )
  const transcript = () =>
    `swarm ${args.join(" ")}\n--- stdout\n${stdout.map((l) => l.text).join("\n")}\n--- stderr\n${stderr
      .map((l) => l.text)
      .join("\n")}`
  const swarm: Swarm = {
    args,
    child,
    stdout,
    stderr,
    exited,
    waitFor: (stream, predicate, timeoutMs = 10_000) => {
      const lines = stream === "stdout" ? stdout : stderr
      return withTimeout(
        new Promise<Line>((resolve) => {
          let seen = 0
          const check = () => {
            for (; seen < lines.length; seen++) {
              if (predicate(lines[seen]!.text)) {
                listeners.delete(check)
                resolve(lines[seen]!)
                return
              }
            }
          }
          listeners.add(check)
          check()
        }),
        timeoutMs,
        () => `no matching ${stream} line\n${transcript()}`
      )
    },
    running: () => exit === undefined,
    kill: (signal) => {
      if (exit === undefined) child.kill(signal)
    },
    transcript
  }
  started.add(swarm)
  void exited.then(() => started.delete(swarm))
  return swarm
}

export interface Ran {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs a command to its end (killing it after `timeoutMs`). */
export const runSwarm = async (
  args: ReadonlyArray<string>,
  env: Record<string, string> = {},
  timeoutMs = 20_000
): Promise<Ran> => {
  const swarm = spawnSwarm(args, env)
  const timer = setTimeout(() => swarm.kill("SIGKILL"), timeoutMs)
  const { code } = await swarm.exited
  clearTimeout(timer)
  const text = (lines: Array<Line>) => lines.map((l) => `${l.text}\n`).join("")
  return { code, stdout: text(swarm.stdout), stderr: text(swarm.stderr) }
}

/** SIGKILLs every process started here that still runs, and waits for them. */
export const stopAll = async (): Promise<void> => {
  const running = [...started]
  running.forEach((swarm) => swarm.kill("SIGKILL"))
  await Promise.all(running.map((swarm) => swarm.exited))
}

/** Sends `signal` and waits for the exit (SIGKILL after `graceMs`). */
export const stop = async (
  swarm: Swarm,
  signal: NodeJS.Signals = "SIGTERM",
  graceMs = 10_000
): Promise<Exited> => {
  swarm.kill(signal)
  const timer = setTimeout(() => swarm.kill("SIGKILL"), graceMs)
  const exit = await swarm.exited
  clearTimeout(timer)
  return exit
}

/** Polls `GET {origin}/healthz` until it answers 200. */
export const waitHealthy = async (origin: string, options: { ca?: string; timeoutMs?: number } = {}) => {
  const deadline = performance.now() + (options.timeoutMs ?? 15_000)
  const ca = options.ca === undefined ? undefined : readFileSync(options.ca, "utf8")
  for (;;) {
    const status = await new Promise<number>((resolve) => {
      const url = `${origin}/healthz`
      const request = url.startsWith("https:")
        ? Https.get(
            url,
            { ...(ca === undefined ? {} : { ca }), agent: false },
            (res) => (res.resume(), resolve(res.statusCode ?? 0))
          )
        : Http.get(url, { agent: false }, (res) => (res.resume(), resolve(res.statusCode ?? 0)))
      request.on("error", () => resolve(0))
      request.setTimeout(1000, () => request.destroy())
    })
    if (status === 200) return
    if (performance.now() > deadline)
      throw new Error(`${origin}/healthz did not answer 200 in time (last: ${status})`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** `swarm watch --format json` events: `{added, removed}` per line, with arrival times. */
export interface WatchEvent {
  readonly added: ReadonlyArray<string>
  readonly removed: ReadonlyArray<string>
  readonly at: number
}

export const watchEvents = (swarm: Swarm): Array<WatchEvent> =>
  swarm.stdout.flatMap((line) => {
    try {
      const parsed = JSON.parse(line.text) as { added: Array<string>; removed: Array<string> }
      return [{ added: parsed.added, removed: parsed.removed, at: line.at }]
    } catch {
      return []
    }
  })
