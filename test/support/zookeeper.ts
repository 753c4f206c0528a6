/**
 * Starts a real standalone ZooKeeper (3.8 from Debian) on a free loopback
 * port with a temporary data dir, for tests. `stop`/`kill` and `start` keep
 * the port and the data (sessions included), so a test can restart it under
 * running clients.
 */
import { Socket } from "node:net"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { freePort } from "./net.js"
import { gate, onPath } from "./gate.js"
import { fileExists, ManagedProcess, removeDir, tempDir, waitUntil } from "./kv-server.js"

const JARS = ["/usr/share/java/zookeeper.jar", "/usr/share/java/slf4j-simple.jar"]

/** True when ZooKeeper can run here; throws with CI=true when it cannot, warns and returns false otherwise. */
export const zookeeperAvailable = (): boolean =>
  gate(
    "ZooKeeper",
    onPath("java", ["-version"]) && JARS.every(fileExists),
    "apt-get install zookeeper (and a Java runtime)"
  )

export interface ZookeeperServer {
  /** `127.0.0.1:port` */
  readonly endpoint: string
  readonly port: number
  readonly dataDir: string
  /** The server's tick; sessions are negotiated within 2..20 ticks. */
  readonly tickTime: number
  readonly pid: number | undefined
  readonly isRunning: boolean
  /** SIGTERM and wait. */
  readonly stop: () => Promise<void>
  /** SIGKILL and wait. */
  readonly kill: () => Promise<void>
  /** Start again on the same port and data dir, and wait until it serves. */
  readonly start: () => Promise<void>
  readonly restart: () => Promise<void>
  /** Stop and remove the data dir. */
  readonly dispose: () => Promise<void>
  /** Sends a four-letter command (`srvr`, `ruok`, `stat`) and returns the answer. */
  readonly fourLetter: (command: "srvr" | "ruok" | "stat") => Promise<string>
  readonly logTail: () => string
}

const fourLetter = (port: number, command: string): Promise<string> =>
  new Promise((resolve, reject) => {
    const socket = new Socket()
    let answer = ""
    socket.setTimeout(2000, () => socket.destroy(new Error(`${command}: no answer`)))
    socket.on("data", (chunk) => (answer += chunk.toString()))
    socket.on("end", () => resolve(answer))
    socket.on("error", reject)
    socket.connect(port, "127.0.0.1", () => socket.write(command))
  })

export const startZookeeper = async (
  options: { readonly tickTime?: number; /** Default: a free one. */ readonly port?: number } = {}
): Promise<ZookeeperServer> => {
  const dir = tempDir("zk")
  const dataDir = join(dir, "data")
  const port = options.port ?? (await freePort())
  const tickTime = options.tickTime ?? 500
  const config = join(dir, "zoo.cfg")
  writeFileSync(
    config,
    [
      `tickTime=${tickTime}`,
      `dataDir=${dataDir}`,
      `clientPort=${port}`,
      "clientPortAddress=127.0.0.1",
      "admin.enableServer=false",
      "4lw.commands.whitelist=srvr,ruok,stat",
      "maxClientCnxns=0",
      ""
    ].join("\n")
  )
  const proc = new ManagedProcess(
    "java",
    [
      "-Xmx256m",
      "-XX:+UseSerialGC",
      "-Dzookeeper.jmx.log4j.disable=true",
      "-cp",
      JARS.join(":"),
      "org.apache.zookeeper.server.ZooKeeperServerMain",
      config
    ],
    join(dir, "zookeeper.log"),
    dir
  )
  const start = async () => {
    proc.start()
    await waitUntil(
      `ZooKeeper on 127.0.0.1:${port}`,
      async () => proc.isRunning && (await fourLetter(port, "srvr")).includes("Mode: standalone"),
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
    endpoint: `127.0.0.1:${port}`,
    port,
    dataDir,
    tickTime,
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
    fourLetter: (command) => fourLetter(port, command),
    logTail: () => proc.logTail()
  }
}
