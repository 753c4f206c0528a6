/**
 * Runs the built CLI, dist/swarm.cjs, as a real process (run `npm run build` first; `npm test` does).
 *
 * - `runSwarm(args)` runs to completion and gives stdout, stderr and the exit code.
 * - `spawnSwarm(args)` starts a long-running command (join, watch, serve): read its output line by line
 *   with `waitForLine`, stop it with `kill` (by its PID), and await `exited`.
 * - `stopAll()` (for afterEach/afterAll) kills what these helpers started and is still running, and
 *   nothing else.
 *
 * The child's environment is the test's, minus SWARM_*, NO_COLOR and FORCE_COLOR (so a developer's
 * shell cannot change the outcome), plus `env`. stdout and stderr are pipes, never a terminal.
 */
import { type ChildProcess, spawn } from "node:child_process"

/** The built CLI. */
import { requireBuilt, SWARM } from "./gate.js"

export { SWARM }

export interface RunOptions {
  /** Added to the cleaned environment. */
  readonly env?: Readonly<Record<string, string>>
  readonly cwd?: string
  /** Written to stdin, which is then closed. */
  readonly input?: string
  /** `runSwarm` kills the process (SIGKILL) after this long; default 20s. */
  readonly timeoutMs?: number
}

export interface RunResult {
  readonly stdout: string
  readonly stderr: string
  /** The exit code, or null when a signal ended the process. */
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  /** Wall time from spawn to exit. */
  readonly ms: number
}

const running = new Set<ChildProcess>()

const environment = (extra: Readonly<Record<string, string>> = {}): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith("SWARM_") || key === "NO_COLOR" || key === "FORCE_COLOR") continue
    env[key] = value
  }
  return { ...env, ...extra }
}

/** Fails with a useful message when the CLI has not been built. */
export const assertBuilt = requireBuilt

const start = (args: ReadonlyArray<string>, options: RunOptions): ChildProcess => {
  assertBuilt()
  const child = spawn(process.execPath, [SWARM, ...args], {
    cwd: options.cwd,
    env: environment(options.env),
    stdio: ["pipe", "pipe", "pipe"]
  })
  running.add(child)
  child.once("exit", () => running.delete(child))
  if (options.input !== undefined) child.stdin!.write(options.input)
  child.stdin!.end()
  return child
}

const collectExit = (child: ChildProcess, began: number, stdout: () => string, stderr: () => string) =>
  new Promise<RunResult>((resolve, reject) => {
    child.once("error", reject)
    // "close" waits for the pipes to drain, so no output is lost.
    child.once("close", (code, signal) =>
      resolve({ stdout: stdout(), stderr: stderr(), code, signal, ms: performance.now() - began })
    )
  })

/** Runs `swarm ...args` to completion. */
export const runSwarm = (args: ReadonlyArray<string>, options: RunOptions = {}): Promise<RunResult> => {
  const began = performance.now()
  const child = start(args, options)
  let stdout = ""
  let stderr = ""
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
  const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 20_000)
  return collectExit(
    child,
    began,
    () => stdout,
    () => stderr
  ).finally(() => clearTimeout(timer))
}

export type Stream = "stdout" | "stderr"

export interface SwarmProcess {
  readonly pid: number
  /** Every complete line so far, per stream. */
  readonly lines: Readonly<Record<Stream, ReadonlyArray<string>>>
  /**
   * Resolves with the first line (already seen, or still to come) on `stream` that matches, after
   * skipping `after` lines; rejects after `timeoutMs` (default 10s), or when the process exits first.
   */
  readonly waitForLine: (
    stream: Stream,
    match: string | RegExp | ((line: string) => boolean),
    options?: { readonly timeoutMs?: number; readonly after?: number }
  ) => Promise<string>
  /** Sends a signal to this process (by PID); default SIGTERM. No-op once it has exited. */
  readonly kill: (signal?: NodeJS.Signals) => void
  /** Settles when the process has exited and its output is drained. */
  readonly exited: Promise<RunResult>
}

/** Starts `swarm ...args` and leaves it running. */
export const spawnSwarm = (args: ReadonlyArray<string>, options: RunOptions = {}): SwarmProcess => {
  const began = performance.now()
  const child = start(args, options)
  const lines: Record<Stream, Array<string>> = { stdout: [], stderr: [] }
  const raw: Record<Stream, string> = { stdout: "", stderr: "" }
  const waiters = new Set<() => void>()
  let done = false
  for (const stream of ["stdout", "stderr"] as const) {
    child[stream]!.setEncoding("utf8").on("data", (chunk: string) => {
      raw[stream] += chunk
      const parts = raw[stream].split("\n")
      raw[stream] = parts.pop()!
      lines[stream].push(...parts)
      for (const wake of waiters) wake()
    })
  }
  const exited = collectExit(
    child,
    began,
    () => [...lines.stdout, raw.stdout].join("\n"),
    () => [...lines.stderr, raw.stderr].join("\n")
  ).finally(() => {
    done = true
    for (const wake of waiters) wake()
  })

  const waitForLine: SwarmProcess["waitForLine"] = (stream, match, opts = {}) => {
    const test =
      typeof match === "string"
        ? (l: string) => l.includes(match)
        : match instanceof RegExp
          ? (l: string) => match.test(l)
          : match
    return new Promise<string>((resolve, reject) => {
      const check = () => {
        const found = lines[stream].slice(opts.after ?? 0).find(test)
        if (found !== undefined) finish(() => resolve(found))
        else if (done)
          finish(() =>
            reject(
              new Error(
                `swarm exited before printing a matching line on ${stream}:\n${lines[stream].join("\n")}`
              )
            )
          )
      }
      const timer = setTimeout(
        () =>
          finish(() =>
            reject(
              new Error(
                `no matching line on ${stream} within ${opts.timeoutMs ?? 10_000}ms; stdout:\n${lines.stdout.join("\n")}\nstderr:\n${lines.stderr.join("\n")}`
              )
            )
          ),
        opts.timeoutMs ?? 10_000
      )
      const finish = (settle: () => void) => {
        clearTimeout(timer)
        waiters.delete(check)
        settle()
      }
      waiters.add(check)
      check()
    })
  }

  return {
    pid: child.pid!,
    lines,
    waitForLine,
    kill: (signal = "SIGTERM") => {
      if (child.exitCode === null && child.signalCode === null) signalByPid(child, signal)
    },
    exited
  }
}

/**
 * Sends `signal` to the child by PID. ESRCH means it is already reaped: libuv reaps every child that
 * exited in one batch before it runs their exit callbacks, so JS run from one child's `exit` (an awaited
 * `exited`, then afterEach) can see another child already gone whose `exit` event is still to come.
 */
const signalByPid = (child: ChildProcess, signal: NodeJS.Signals): void => {
  try {
    process.kill(child.pid!, signal)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error
  }
}

/** Kills (SIGKILL, by PID) every process these helpers started that is still running. */
export const stopAll = async (): Promise<void> => {
  const children = [...running]
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve()
          child.once("exit", () => resolve())
          signalByPid(child, "SIGKILL")
        })
    )
  )
}

/**
 * How long a `swarm` process takes to start and fail at once (bad input, exit 2), measured now: the
 * baseline a timing is judged over, so a loaded machine's slow process start does not count against it.
 */
export const startCost = async (): Promise<number> => {
  const result = await runSwarm(["list", "bogus://x"])
  if (result.code !== 2)
    throw new Error(`swarm list bogus://x exited ${result.code}, not 2: ${result.stderr}`)
  return result.ms
}
