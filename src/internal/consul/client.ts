/**
 * Consul's HTTP API over @effect/platform's `HttpClient`: one request with a
 * bounded body; failures are `KvError`s that keep their cause.
 *
 * Deadlines are per store operation (`deadline`), not per request: a put is
 * up to five requests, and each `Effect.timeout` forks two fibers, which was
 * a third of a request's CPU (bench/RESULTS.md).
 */
import type * as Headers from "@effect/platform/Headers"
import {
  type HttpClient,
  type HttpClientError,
  HttpClientRequest,
  type HttpClientResponse
} from "@effect/platform"
import { Duration, Effect } from "effect"
import { KvError } from "../../KvStore.js"
import * as BoundedText from "../boundedText.js"
import { describe } from "../tlsFiles.js"
import { type Endpoint, STORE } from "./endpoint.js"

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
  /** A deadline of this request's own (a blocking query waits longer than an operation's deadline). */
  readonly timeout?: Duration.Duration
}

export interface Client {
  readonly origin: string
  readonly request: (method: string, path: string, options?: RequestOptions) => Effect.Effect<Reply, KvError>
  /** Fails with `Timeout` once `what` (say, "put k") has taken longer than the request timeout. */
  readonly deadline: <A, E, R>(
    what: string,
    effect: Effect.Effect<A, E, R>,
    timeout?: Duration.Duration
  ) => Effect.Effect<A, E | KvError, R>
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

/**
 * A kept-alive socket the agent closed under us (node:http says ECONNRESET or EPIPE, undici UND_ERR_SOCKET):
 * one more try is safe, as every request the store makes is idempotent but session create, and a spare
 * session holds no keys and lapses.
 */
const isStaleSocket = (error: unknown) =>
  typeof error === "object" &&
  error !== null &&
  "cause" in error &&
  ["ECONNRESET", "EPIPE", "UND_ERR_SOCKET"].includes(
    (error.cause as NodeJS.ErrnoException | undefined)?.code ?? ""
  )

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

  const readBody = (
    method: string,
    path: string,
    response: HttpClientResponse.HttpClientResponse,
    headers: Headers.Headers
  ) =>
    BoundedText.read(response, headers, config.maxBodyBytes, () => tooLarge(method, path)).pipe(
      Effect.catchTag("ResponseError", (error) => Effect.fail(brokenOff(method, path)(error)))
    )

  const deadline = <A, E, R>(
    what: string,
    effect: Effect.Effect<A, E, R>,
    timeout = config.requestTimeout
  ): Effect.Effect<A, E | KvError, R> =>
    Effect.timeoutFail(effect, {
      duration: timeout,
      onTimeout: () =>
        new KvError({
          store: STORE,
          reason: "Timeout",
          detail: `Consul at ${origin} did not answer ${what} within ${Duration.format(timeout)}`
        })
    })

  const request = (
    method: string,
    path: string,
    options: RequestOptions = {}
  ): Effect.Effect<Reply, KvError> => {
    const url = `${origin}${endpoint.basePath}${path}${queryString(options.query)}`
    let req = HttpClientRequest.make(method as "GET")(url)
    if (config.token !== undefined) req = HttpClientRequest.setHeader(req, "X-Consul-Token", config.token)
    if (options.body !== undefined) req = HttpClientRequest.bodyText(req, options.body, "text/plain")
    return http.execute(req).pipe(
      Effect.catchIf(isStaleSocket, () => http.execute(req)),
      Effect.mapError((error) =>
        // undici refuses a `Content-Length` over its bound before it answers.
        BoundedText.isTooLarge(error)
          ? tooLarge(method, path)
          : unavailable(
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
      (effect) =>
        options.timeout === undefined ? effect : deadline(`${method} ${path}`, effect, options.timeout)
    )
  }

  return { origin, request, deadline }
}
