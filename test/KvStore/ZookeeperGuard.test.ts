// The repairs the ZooKeeper store applies to each node-zookeeper-client connection (internal/zookeeper/guard.ts),
// on the library's own ConnectionManager: a frame it cannot parse drops the connection instead of throwing, and a
// handshake the server never answers is dropped and tried again instead of waiting forever.
import { assert, describe, it } from "@effect/vitest"
import { createServer, type Socket } from "node:net"
import ConnectionManager from "node-zookeeper-client/lib/ConnectionManager.js"
import { guard } from "../../src/internal/zookeeper/guard.js"

const options = { sessionTimeout: 30_000, spinDelay: 50, retries: 0 }

/** A server that accepts connections and reads them, but never answers (a ZooKeeper that is starting). */
const silentServer = () =>
  new Promise<{ port: number; accepted: () => number; close: () => void }>((resolve) => {
    const sockets: Array<Socket> = []
    const server = createServer((socket) => {
      sockets.push(socket)
      socket.on("error", () => {})
    })
    server.listen(0, "127.0.0.1", () =>
      resolve({
        port: (server.address() as { port: number }).port,
        accepted: () => sockets.length,
        close: () => {
          for (const s of sockets) s.destroy()
          server.close()
        }
      })
    )
  })

const waitFor = async (check: () => boolean, ms: number) => {
  const deadline = Date.now() + ms
  while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
  return check()
}

const stop = (manager: InstanceType<typeof ConnectionManager>) => {
  manager.close()
  manager.socket?.destroy()
}

describe("ZooKeeper connection repairs", () => {
  it("a frame the client cannot parse destroys the socket instead of throwing", () => {
    const manager = new ConnectionManager("127.0.0.1:1", options, () => {})
    let destroyed = 0
    manager.socket = { destroy: () => void destroyed++ }
    // In no state the parser expects: the library's own handler throws on it.
    const frame = Buffer.from([0, 0, 0, 2, 1, 2])
    assert.throws(() => manager.onSocketData(frame))
    manager.pendingBuffer = null
    guard(manager, 1000)
    assert.doesNotThrow(() => manager.onSocketData(frame))
    assert.strictEqual(destroyed, 1)
    assert.isNull(manager.pendingBuffer)
  })

  it("importing the store changes nothing: the repairs are per connection", async () => {
    await import("../../src/KvStore/Zookeeper.js")
    const manager = new ConnectionManager("127.0.0.1:1", options, () => {})
    manager.socket = { destroy: () => {} }
    assert.throws(() => manager.onSocketData(Buffer.from([0, 0, 0, 2, 1, 2])))
  })

  it("a handshake the server never answers is dropped and tried again; the unrepaired client waits", async () => {
    const server = await silentServer()
    const plain = new ConnectionManager(`127.0.0.1:${server.port}`, options, () => {})
    const repaired = new ConnectionManager(`127.0.0.1:${server.port}`, options, () => {})
    try {
      plain.connect()
      assert.isTrue(await waitFor(() => server.accepted() === 1, 2000), "the plain client connected")
      guard(repaired, 200)
      repaired.pendingBuffer = Buffer.from([0, 0, 1]) // a half frame from an earlier connection
      repaired.connect()
      assert.isTrue(
        await waitFor(() => server.accepted() >= 4, 5000),
        `the repaired client connected again after silent handshakes (accepted ${server.accepted()})`
      )
      assert.isNull(repaired.pendingBuffer, "a new connection starts without the old half frame")
      // Meanwhile the plain client still waits on its first handshake: its connect timer is 30s.
      assert.strictEqual(plain.state, 1, "the plain client is still CONNECTING")
    } finally {
      stop(plain)
      stop(repaired)
      server.close()
    }
  })
})
