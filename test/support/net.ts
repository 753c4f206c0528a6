/** Network helpers for tests: loopback only. */
import { connect, createServer, type Server, type Socket } from "node:net"

/** A free TCP port on 127.0.0.1, chosen by the kernel. */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

/** Whether a connection to 127.0.0.1:`port` is refused (nothing listens there). */
const refuses = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port })
    socket.once("connect", () => {
      socket.destroy()
      resolve(false)
    })
    socket.once("error", (error: NodeJS.ErrnoException) => resolve(error.code === "ECONNREFUSED"))
  })

/** Well-known ports that no test listens on (tcpmux, echo, discard, …). */
const NEVER_LISTENED = [1, 7, 9, 11, 13, 17, 19]

/**
 * A port on 127.0.0.1 that refuses connections for the whole test. Not a port `freePort` found free: the
 * kernel hands such a port to the next `listen(0)` of any test running alongside, which then answers (or
 * hangs) in place of the refusal; a well-known port below the kernel's ephemeral range (32768 and up) is
 * never handed out. Checked once, so a machine that does listen there picks another.
 */
export const refusedPort = async (): Promise<number> => {
  for (const port of NEVER_LISTENED) if (await refuses(port)) return port
  throw new Error(
    `refusedPort: every one of ports ${NEVER_LISTENED.join(", ")} on 127.0.0.1 accepts connections`
  )
}

/**
 * TCP proxies on 127.0.0.1 to one port that can lose an answer on its way back, as a member does that dies
 * after passing a write on to the leader: the write applies, its answer never comes. After
 * `loseAnswerTo(marker)`, the first connection (through any of the proxies) whose client sends bytes holding
 * `marker` forwards them, then drops all the server sends back and is closed `closeAfterMs` later; the
 * others pass everything. A request's key travels as raw bytes in its protobuf, so the key is a good marker.
 */
export const answerLosingProxies = (targetPort: number, closeAfterMs = 300) => {
  let marker: Buffer | undefined
  let lost = 0
  const servers: Array<Server> = []
  const sockets = new Set<Socket>()
  const track = (socket: Socket) => {
    sockets.add(socket)
    socket.once("close", () => sockets.delete(socket))
    return socket
  }
  const pipe = (client: Socket) => {
    const upstream = track(connect({ host: "127.0.0.1", port: targetPort }))
    let losing = false
    const end = () => (client.destroy(), upstream.destroy())
    client.on("data", (chunk: Buffer) => {
      if (marker !== undefined && !losing && chunk.includes(marker)) {
        marker = undefined
        losing = true
        lost++
        setTimeout(end, closeAfterMs)
      }
      upstream.write(chunk)
    })
    upstream.on("data", (chunk: Buffer) => losing || client.write(chunk))
    for (const socket of [client, upstream]) socket.on("error", end).on("close", end)
  }
  const proxy = (): Promise<number> =>
    new Promise((resolve, reject) => {
      const server = createServer((client) => pipe(track(client)))
      servers.push(server)
      server.on("error", reject)
      server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port))
    })
  return {
    proxy,
    loseAnswerTo: (key: Buffer) => void (marker = key),
    /** How many answers were lost so far. */
    lost: () => lost,
    close: () => {
      for (const socket of sockets) socket.destroy()
      for (const server of servers) server.close()
    }
  }
}
