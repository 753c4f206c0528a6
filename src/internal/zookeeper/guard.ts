/**
 * Three repairs to node-zookeeper-client's connection, applied to each
 * client's `ConnectionManager` where the store makes it (never to the
 * prototype, so importing the store changes nothing):
 *
 * - **A handshake that never ends.** The library clears its connect timer once
 *   TCP connects and then waits for the ConnectResponse with no timer at all.
 *   A ZooKeeper that is starting (measured here with 3.8: about one restart
 *   in three under load) can accept the socket and read the ConnectRequest
 *   without ever answering or closing it, so the client hung until the test
 *   gave up ("no reconnect within 20s"). The socket is now dropped when the
 *   handshake takes longer than `handshakeMs`, and the client connects again.
 * - **A connect timer from the asked session timeout.** It is that timeout
 *   divided by the number of servers (60s for `--ttl 180s` and three hosts),
 *   so a black-holed host held up the next one that long. It is capped at
 *   `handshakeMs` too.
 * - **A frame it cannot parse** (for example "Unknown code" after a
 *   connection was cut mid-stream) throws from the socket's `data` handler,
 *   which would crash the process. It now drops the connection instead, and
 *   the client reconnects as after any drop. The half-read frame of a dropped
 *   connection is also forgotten, so it is not glued to the next one's bytes.
 */

/** The part of the library's ConnectionManager these repairs touch. */
export interface Repairable {
  socket?: { destroy(): void } | undefined
  state: number
  connectTimeout: number
  pendingBuffer: Buffer | null
  onSocketData(buffer: Buffer): void
  onSocketConnected(): void
  updateTimeout(sessionTimeout: number): void
}

/** ConnectionManager's CONNECTING state. */
const CONNECTING = 1

export const guard = (manager: Repairable, handshakeMs: number): void => {
  const parse = manager.onSocketData
  const connected = manager.onSocketConnected
  const updateTimeout = manager.updateTimeout
  manager.onSocketData = function (buffer) {
    try {
      parse.call(this, buffer)
    } catch {
      this.pendingBuffer = null
      this.socket?.destroy()
    }
  }
  manager.onSocketConnected = function () {
    const socket = this.socket
    this.pendingBuffer = null
    const timer = setTimeout(() => {
      if (this.socket === socket && this.state === CONNECTING) socket?.destroy()
    }, handshakeMs)
    timer.unref()
    connected.call(this)
  }
  manager.updateTimeout = function (sessionTimeout) {
    updateTimeout.call(this, sessionTimeout)
    this.connectTimeout = Math.min(this.connectTimeout, handshakeMs)
  }
  manager.connectTimeout = Math.min(manager.connectTimeout, handshakeMs)
}
