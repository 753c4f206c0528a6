// node-zookeeper-client throws from its socket handler on a frame it cannot parse; the store turns that into a
// dropped connection instead of a crashed process.
import { assert, it } from "@effect/vitest"
import ConnectionManager from "node-zookeeper-client/lib/ConnectionManager.js"
import "../../src/KvStore/Zookeeper.js"

it("a frame the client cannot parse destroys the socket instead of throwing", () => {
  let destroyed = 0
  // A connection manager in no state the parser expects: the library's own handler throws on it.
  const connection = { socket: { destroy: () => void destroyed++ } }
  assert.doesNotThrow(() =>
    ConnectionManager.prototype.onSocketData.call(connection, Buffer.from([0, 0, 0, 2, 1, 2]))
  )
  assert.strictEqual(destroyed, 1)
})
