/** A small HTTP(S) client for the server tests: node:http, no agent pooling surprises. */
import * as Http from "node:http"
import * as Https from "node:https"
import { connect } from "node:net"

export interface Reply {
  readonly status: number
  readonly headers: Http.IncomingHttpHeaders
  readonly body: string
}

export interface RequestOptions {
  readonly method?: string
  readonly body?: string | Buffer
  readonly headers?: Http.OutgoingHttpHeaders
  /** Sends the body in chunks (Transfer-Encoding: chunked). */
  readonly chunks?: ReadonlyArray<string | Buffer>
  readonly tls?: { readonly ca?: Buffer; readonly cert?: Buffer; readonly key?: Buffer }
  readonly signal?: AbortSignal
}

export const request = (origin: string, path: string, options: RequestOptions = {}): Promise<Reply> =>
  new Promise((resolve, reject) => {
    const secure = origin.startsWith("https:")
    const headers: Http.OutgoingHttpHeaders = { connection: "close", ...options.headers }
    if (options.body !== undefined && headers["content-length"] === undefined) {
      headers["content-length"] = Buffer.byteLength(options.body)
    }
    const req = (secure ? Https : Http).request(
      origin + path,
      {
        method: options.method ?? "GET",
        headers,
        agent: false,
        ...(options.signal === undefined ? {} : { signal: options.signal }),
        ...(secure ? { ca: options.tls?.ca, cert: options.tls?.cert, key: options.tls?.key } : {})
      },
      (res) => {
        const chunks: Array<Buffer> = []
        res.on("data", (c: Buffer) => chunks.push(c))
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString("utf8")
          })
        )
        res.on("error", reject)
      }
    )
    req.on("error", reject)
    if (options.chunks !== undefined) {
      for (const chunk of options.chunks) req.write(chunk)
      req.end()
    } else {
      req.end(options.body)
    }
  })

/**
 * Sends raw bytes on a fresh TCP connection and returns everything the
 * server sends back until it closes (or `timeoutMs` passes).
 */
export const raw = (port: number, bytes: string | Buffer, timeoutMs = 5000): Promise<string> =>
  new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port })
    const chunks: Array<Buffer> = []
    const done = () => {
      clearTimeout(timer)
      socket.destroy()
      resolve(Buffer.concat(chunks).toString("latin1"))
    }
    const timer = setTimeout(done, timeoutMs)
    socket.on("data", (c: Buffer) => {
      chunks.push(c)
      // One complete answer is enough: we only ever send one request per connection.
      const text = Buffer.concat(chunks).toString("latin1")
      const end = text.indexOf("\r\n\r\n")
      if (end >= 0) {
        const length = /content-length: *([0-9]+)/i.exec(text.slice(0, end))
        if (length !== null && text.length >= end + 4 + Number(length[1])) done()
      }
    })
    socket.on("error", done)
    socket.on("close", done)
    socket.write(bytes)
  })

/** The status code of a raw HTTP answer, or 0 when there was none. */
export const statusOf = (answer: string): number => {
  const match = /^HTTP\/1\.[01] ([0-9]{3})/.exec(answer)
  return match === null ? 0 : Number(match[1])
}
