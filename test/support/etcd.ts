/**
 * Starts a real single-member etcd (v3.4 from Debian) on free loopback ports
 * with a temporary data dir, for tests. `stop`/`kill` and `start` keep the
 * ports and the data, so a test can restart etcd under a running client.
 */
import { execFile, execFileSync } from "node:child_process"
import { join } from "node:path"
import { promisify } from "node:util"
import { freePort } from "./net.js"
import { makeTestPki } from "./tls.js"
import { gate, onPath } from "./gate.js"
import { ManagedProcess, removeDir, tempDir, waitUntil } from "./kv-server.js"

const run = promisify(execFile)

/** True when etcd can run here; throws with CI=true when it cannot, warns and returns false otherwise. */
export const etcdAvailable = (): boolean =>
  gate("etcd", onPath("etcd") && onPath("etcdctl", ["version"]), "apt-get install etcd-server etcd-client")

/** The version of the `etcd` on the path, as `[major, minor, patch]`. */
export const etcdVersion = (): readonly [number, number, number] => {
  const text = execFileSync("etcd", ["--version"], { encoding: "utf8" })
  const found = /etcd Version: (\d+)\.(\d+)\.(\d+)/.exec(text)
  if (found === null) throw new Error(`etcd --version printed no version: ${text}`)
  return [Number(found[1]), Number(found[2]), Number(found[3])]
}

/**
 * Whether an etcd of this version has the stale-lessor bug (etcd #15247): after a leader change the old
 * leader may still answer keep-alives, and revoke leases by its own clock, until it catches up. Fixed in
 * 3.4.28, 3.5.11 and 3.6.
 */
export const etcdHasStaleLessor = ([major, minor, patch]: readonly [number, number, number]): boolean =>
  major < 3 || (major === 3 && (minor < 4 || (minor === 4 && patch < 28) || (minor === 5 && patch < 11)))

/** Server and client certificates for an etcd with mutual TLS. */
export interface EtcdTls {
  readonly ca: string
  readonly cert: string
  readonly key: string
  readonly clientCert: string
  readonly clientKey: string
}

/**
 * A throwaway CA, server and client certificate for etcd, in `dir`. The server
 * certificate also allows clientAuth: etcd's gRPC gateway dials its own client port with it.
 */
export const makeEtcdTls = (dir: string): EtcdTls => makeTestPki({ dir, serverAlsoClient: true })

export interface EtcdServer {
  /** `127.0.0.1:port` */
  readonly endpoint: string
  /** `http(s)://127.0.0.1:port` */
  readonly url: string
  readonly dataDir: string
  readonly pid: number | undefined
  readonly isRunning: boolean
  /** SIGTERM and wait. */
  readonly stop: () => Promise<void>
  /** SIGKILL and wait. */
  readonly kill: () => Promise<void>
  /** Start again on the same ports and data dir, and wait until healthy. */
  readonly start: () => Promise<void>
  readonly restart: () => Promise<void>
  /** Stop and remove the data dir. */
  readonly dispose: () => Promise<void>
  /** Runs etcdctl (API v3) against this server; returns stdout. */
  readonly etcdctl: (...args: ReadonlyArray<string>) => Promise<string>
  readonly logTail: () => string
}

export const startEtcd = async (
  options: { readonly tls?: EtcdTls; /** Default: a free one. */ readonly clientPort?: number } = {}
): Promise<EtcdServer> => {
  const dir = tempDir("etcd")
  const dataDir = join(dir, "data")
  const clientPort = options.clientPort ?? (await freePort())
  const peerPort = await freePort()
  const tls = options.tls
  const scheme = tls ? "https" : "http"
  const endpoint = `127.0.0.1:${clientPort}`
  const url = `${scheme}://${endpoint}`
  const peer = `http://127.0.0.1:${peerPort}`
  const args = [
    "--name",
    "default",
    "--data-dir",
    dataDir,
    "--listen-client-urls",
    url,
    "--advertise-client-urls",
    url,
    "--listen-peer-urls",
    peer,
    "--initial-advertise-peer-urls",
    peer,
    "--initial-cluster",
    `default=${peer}`,
    "--logger",
    "zap",
    "--log-level",
    "warn",
    ...(tls
      ? ["--cert-file", tls.cert, "--key-file", tls.key, "--trusted-ca-file", tls.ca, "--client-cert-auth"]
      : [])
  ]
  const proc = new ManagedProcess("etcd", args, join(dir, "etcd.log"))
  const ctlArgs = (extra: ReadonlyArray<string>) => [
    "--endpoints",
    url,
    "--dial-timeout",
    "2s",
    "--command-timeout",
    "5s",
    ...(tls ? ["--cacert", tls.ca, "--cert", tls.clientCert, "--key", tls.clientKey] : []),
    ...extra
  ]
  const exec = (extra: ReadonlyArray<string>) =>
    run("etcdctl", ctlArgs(extra), { env: { ...process.env, ETCDCTL_API: "3" }, timeout: 15_000 })
  const etcdctl = async (...extra: ReadonlyArray<string>) => (await exec(extra)).stdout
  // `endpoint health` reports on stderr.
  const etcdctlAll = async (...extra: ReadonlyArray<string>) => {
    const { stdout, stderr } = await exec(extra)
    return stdout + stderr
  }

  const start = async () => {
    proc.start()
    await waitUntil(
      `etcd on ${url}`,
      async () => proc.isRunning && (await etcdctlAll("endpoint", "health")).includes("is healthy"),
      30_000,
      () => proc.logTail()
    )
  }
  await start().catch(async (error) => {
    await proc.stop("SIGKILL")
    removeDir(dir)
    throw error
  })
  return {
    endpoint,
    url,
    dataDir,
    get pid() {
      return proc.pid
    },
    get isRunning() {
      return proc.isRunning
    },
    stop: () => proc.stop("SIGTERM"),
    kill: () => proc.stop("SIGKILL"),
    start,
    restart: async () => {
      await proc.stop("SIGTERM")
      await start()
    },
    dispose: async () => {
      await proc.stop("SIGTERM")
      removeDir(dir)
    },
    etcdctl,
    logTail: () => proc.logTail()
  }
}
