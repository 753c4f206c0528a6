/**
 * Consul's HTTP API over @effect/platform's `HttpClient`: one request with a
 * timeout and a bounded body; failures are `KvError`s that keep their cause.
 */
import type * as Headers from "@effect/platform/Headers"
import {
  type HttpClient,
  type HttpClientError,
  HttpClientRequest,
  type HttpClientResponse
} from "@effect/platform"
import { Chunk, Duration, Effect, Stream } from "effect"
import { KvError } from "../../KvStore.js"
import { describe } from "../TlsFiles.js"
import { type Endpoint, STORE } from "./Endpoint.js"

export interface Reply {
  readonly method: string
  readonly path: string
  readonly status: number
  /** `X-Consul-Index`, when the answer has one. */
  readonly index: number | undefined
  readonly body: string
}

export type Query = Readonly<Record<string, string | true | undefined>>

export interface RequestOptions {
  readonly query?: Query
  readonly body?: string
  /** Instead of the client's request timeout (a blocking query waits longer). */
  readonly timeout?: Duration.Duration
}

export interface Client {
  readonly origin: string
  readonly request: (method: string, path: string, options?: RequestOptions) => Effect.Effect<Reply, KvError>
}

const queryString = (query: Query | undefined) => {
  const parts: Array<string> = []
  for (const [name, value] of Object.entries(query ?? {})) {
    if (value === true) parts.push(encodeURIComponent(name))
    else if (value !== undefined) parts.push(`${encodeURIComponent(name)}=${encodeURIComponent(value)}`)
  }
  return parts.length === 0 ? "" : `?${parts.join("&")}`
}

const unavailable = (detail: string, cause?: unknown) =>
  new KvError({ store: STORE, reason: "Unavailable", detail, ...(cause === undefined ? {} : { cause }) })

/** A kept-alive socket the agent closed under us: the request never reached it, so one more try is safe. */
const isStaleSocket = (error: unknown) =>
  typeof error === "object" &&
  error !== null &&
  "cause" in error &&
  ["ECONNRESET", "EPIPE"].includes((error.cause as NodeJS.ErrnoException | undefined)?.code ?? "")

export const make = (
  http: HttpClient.HttpClient,
  endpoint: Endpoint,
  config: {
    readonly token: string | undefined
    readonly requestTimeout: Duration.Duration
    readonly maxBodyBytes: number
  }
): Client => {
  const { origin } = endpoint
  const tooLarge = (method: string, path: string) =>
    new KvError({
      store: STORE,
      reason: "BadResponse",
      detail: `Consul at ${origin} answered ${method} ${path} with more than ${config.maxBodyBytes} bytes`
    })
  const brokenOff = (method: string, path: string) => (error: HttpClientError.ResponseError) =>
    unavailable(
      `Consul at ${origin} broke off its answer to ${method} ${path}: ${describe(error.cause)}`,
      error
    )

  /**
   * The body, at most `maxBodyBytes`. With a `Content-Length` (what Consul sends for most answers) it is read
   * whole; `response.stream` would abort the request once read, closing the kept-alive socket. A chunked
   * answer is streamed and cut off at the bound.
   */
  const readBody = (
    method: string,
    path: string,
    response: HttpClientResponse.HttpClientResponse,
    headers: Headers.Headers
  ) => {
    const length = Number(headers["content-length"] ?? Number.NaN)
    if (Number.isSafeInteger(length)) {
      return length > config.maxBodyBytes
        ? Effect.fail(tooLarge(method, path))
        : Effect.mapError(response.text, brokenOff(method, path))
    }
    return response.stream.pipe(
      Stream.mapError(brokenOff(method, path)),
      Stream.mapAccumEffect(0, (total, chunk) =>
        total + chunk.length > config.maxBodyBytes
          ? Effect.fail(tooLarge(method, path))
          : Effect.succeed([total + chunk.length, chunk] as const)
      ),
      Stream.runCollect,
      Effect.map((chunks) => Buffer.concat(Chunk.toArray(chunks)).toString("utf8"))
    )
  }

  const request = (
    method: string,
    path: string,
    options: RequestOptions = {}
  ): Effect.Effect<Reply, KvError> => {
    const timeout = options.timeout ?? config.requestTimeout
    const url = `${origin}${endpoint.basePath}${path}${queryString(options.query)}`
    let req = HttpClientRequest.make(method as "GET")(url)
    if (config.token !== undefined) req = HttpClientRequest.setHeader(req, "X-Consul-Token", config.token)
    if (options.body !== undefined) req = HttpClientRequest.bodyText(req, options.body, "text/plain")
    return http.execute(req).pipe(
      Effect.catchIf(isStaleSocket, () => http.execute(req)),
      Effect.mapError((error) =>
        unavailable(
          `cannot reach Consul at ${origin} (${method} ${path}): ${describe(error.cause ?? error)}`,
          error
        )
      ),
      Effect.flatMap((response) => {
        // Copied from the socket's on each access: read once.
        const headers = response.headers
        return Effect.map(readBody(method, path, response, headers), (body): Reply => {
          const header = headers["x-consul-index"]
          const index = typeof header === "string" && /^\d+$/.test(header) ? Number(header) : undefined
          return { method, path, status: response.status, index, body }
        })
      }),
      Effect.timeoutFail({
        duration: timeout,
        onTimeout: () =>
          new KvError({
            store: STORE,
            reason: "Timeout",
            detail: `Consul at ${origin} did not answer ${method} ${path} within ${Duration.format(timeout)}`
          })
      })
    )
  }
  return { origin, request }
}
