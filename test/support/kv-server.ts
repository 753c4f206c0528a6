/**
 * Shared plumbing for tests that start a real etcd or ZooKeeper (gated by ./gate.ts): run one
 * server process with a log file, stop it by PID, and never leave it behind when the test
 * process exits.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs"
import { connect, createServer, type Socket } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"

export const fileExists = (path: string): boolean => existsSync(path)

export const tempDir = (label: string): string => mkdtempSync(join(tmpdir(), `swarm-${label}-`))

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Polls `check` until it returns true, or fails after `timeoutMs` with `what` and the log tail. */
export const waitUntil = async (
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
  log?: () => string
): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check().catch(() => false)) return
    if (Date.now() > deadline) {
      throw new Error(`${what} not ready after ${timeoutMs}ms${log ? `\n--- log tail ---\n${log()}` : ""}`)
    }
    await sleep(50)
  }
}

const running = new Set<ChildProcess>()
// A crashed or interrupted test run must not leave servers behind: kill only what we started, by PID.
process.once("exit", () => {
  for (const child of running) if (child.pid !== undefined && child.exitCode === null) child.kill("SIGKILL")
})

/** One server process writing to `logFile`; start it again with `start()` after a stop. */
export class ManagedProcess {
  private child: ChildProcess | undefined
  private exited: Promise<void> = Promise.resolve()

  constructor(
    readonly command: string,
    readonly args: ReadonlyArray<string>,
    readonly logFile: string,
    readonly cwd?: string
  ) {}

  get pid(): number | undefined {
    return this.child?.exitCode === null ? this.child.pid : undefined
  }

  get isRunning(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null
  }

  start(): void {
    if (this.isRunning) throw new Error(`${this.command} is already running (pid ${this.child?.pid})`)
    const fd = openSync(this.logFile, "a")
    const child = spawn(this.command, this.args, { stdio: ["ignore", fd, fd], cwd: this.cwd })
    closeSync(fd)
    this.child = child
    running.add(child)
    this.exited = new Promise((resolve) => {
      child.once("exit", () => {
        running.delete(child)
        resolve()
      })
      child.once("error", () => {
        running.delete(child)
        resolve()
      })
    })
  }

  /** Sends `signal` to our child and waits for it to exit (SIGKILL after `graceMs`). */
  async stop(signal: NodeJS.Signals = "SIGTERM", graceMs = 10_000): Promise<void> {
    const child = this.child
    if (child === undefined || !this.isRunning) return this.exited
    child.kill(signal)
    const timer = setTimeout(() => child.exitCode === null && child.kill("SIGKILL"), graceMs)
    await this.exited
    clearTimeout(timer)
  }

  pause(): void {
    if (this.isRunning) this.child!.kill("SIGSTOP")
  }

  resume(): void {
    if (this.isRunning) this.child!.kill("SIGCONT")
  }

  logTail(lines = 40): string {
    try {
      return readFileSync(this.logFile, "utf8").split("\n").slice(-lines).join("\n")
    } catch {
      return "(no log)"
    }
  }
}

export const removeDir = (dir: string) => rmSync(dir, { recursive: true, force: true })

/**
 * A TCP proxy on a free loopback port to `127.0.0.1:targetPort`, for
 * partition tests: `cut()` drops every connection and refuses new ones (the
 * server stays up), `heal()` lets clients through again.
 */
export interface TcpProxy {
  readonly port: number
  readonly endpoint: string
  readonly cut: () => void
  readonly heal: () => void
  readonly close: () => Promise<void>
}

export const tcpProxy = (targetPort: number): Promise<TcpProxy> =>
  new Promise((resolve, reject) => {
    const sockets = new Set<Socket>()
    let open = true
    const server = createServer((inbound) => {
      if (!open) return inbound.destroy()
      const outbound = connect(targetPort, "127.0.0.1")
      sockets.add(inbound)
      sockets.add(outbound)
      const drop = () => {
        inbound.destroy()
        outbound.destroy()
        sockets.delete(inbound)
        sockets.delete(outbound)
      }
      inbound.on("error", drop).on("close", drop)
      outbound.on("error", drop).on("close", drop)
      inbound.pipe(outbound)
      outbound.pipe(inbound)
    })
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port
      resolve({
        port,
        endpoint: `127.0.0.1:${port}`,
        cut: () => {
          open = false
          for (const socket of sockets) socket.destroy()
          sockets.clear()
        },
        heal: () => {
          open = true
        },
        close: () =>
          new Promise<void>((done) => {
            open = false
            for (const socket of sockets) socket.destroy()
            server.close(() => done())
          })
      })
    })
  })
