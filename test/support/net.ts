/** Network helpers for tests: loopback only. */
import { connect, createServer } from "node:net"

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
