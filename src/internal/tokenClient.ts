/**
 * The HTTP client under `token://` and `swarm create`: @effect/platform's
 * `HttpClient` bound to one service (one or more instances of it) and one
 * (optional) token, with bounded bodies, a timeout on every request, and
 * errors that never show the token.
 *
 * With several instances, a request that fails on one (no connection, no
 * answer within the timeout, a 5xx) is sent to the next, from a sticky
 * current one (see `failover.ts`).
 *
 * The client is the `HttpClient` in the context when there is one and no TLS
 * option is given; otherwise Node's, over an agent that carries the private CA
 * (`token.cacert`) and the client certificate (`token.cert`, `token.key`).
 */
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Duration, Effect, Either, Option, type Scope } from "effect"
// fs.promises loads on first use: only when a TLS file is read.
import { promises as fs } from "node:fs"
import * as Http from "node:http"
import * as BoundedText from "./boundedText.js"
import { failsOver, makeRotation } from "./failover.js"
import { BadResponse, Forbidden, InvalidOption, InvalidUrl, Unavailable } from "../DiscoveryError.js"
import { redactToken } from "../DiscoveryUrl.js"
import * as GoDuration from "../GoDuration.js"
import type { ServiceList } from "../TokenUrl.js"

const BACKEND = "token"

/** Every plain request gives up after this long, unless the client is given another timeout. */
export const REQUEST_TIMEOUT = Duration.seconds(10)
/** The largest answer read; a longer one fails rather than filling memory. */
export const MAX_BODY = 8 * 1024 * 1024

export interface Response {
  /** The instance that answered. */
  readonly service: string
  readonly status: number
  readonly headers: Readonly<Record<string, string | undefined>>
  readonly body: string
}

export interface ClientOptions {
  /** PEM file of a private CA to trust (the discovery-opt `token.cacert`). */
  readonly cacert?: string | undefined
  /** PEM client certificate for mutual TLS (`token.cert`); needs `key`. */
  readonly cert?: string | undefined
  /** PEM private key of `cert` (`token.key`). */
  readonly key?: string | undefined
  /** How long one attempt on one instance may take: `token.timeout`, a Go duration. */
  readonly timeout?: string | undefined
}

/** The client options among discovery-opts. */
export const clientOptions = (options: Readonly<Record<string, string>>): ClientOptions => ({
  cacert: options["token.cacert"],
  cert: options["token.cert"],
  key: options["token.key"],
  timeout: options["token.timeout"]
})

/** `token.timeout`, checked: a positive Go duration; `fallback` when it is not given. */
export const timeoutOf = (
  options: ClientOptions,
  fallback: Duration.Duration
): Effect.Effect<Duration.Duration, InvalidOption> => {
  const value = options.timeout
  if (value === undefined) return Effect.succeed(fallback)
  const millis = GoDuration.parseMillis(value)
  return Either.isRight(millis) && millis.right > 0
    ? Effect.succeed(Duration.millis(millis.right))
    : Effect.fail(
        new InvalidOption({
          option: "token.timeout",
          value,
          reason: "expected a positive duration in Go syntax, such as 2s or 500ms"
        })
      )
}

export interface RequestOptions {
  readonly body?: string
  /** Default: the client's timeout. */
  readonly timeout?: Duration.Duration
  /** Ask this instance only (a long-poll whose index came from it); a failure still moves the current one on. */
  readonly service?: string
}

export interface Client {
  readonly services: ServiceList
  /** The instance requests go to first. */
  readonly current: () => string
  /** How long one attempt may take. */
  readonly timeout: Duration.Duration
  /** The current service URL plus the redacted token, for messages. */
  readonly target: () => string
  /** Tries each instance at most once, from the current one, until one answers with other than a 5xx. */
  readonly request: (
    method: "GET" | "POST" | "DELETE",
    path: string,
    options?: RequestOptions
  ) => Effect.Effect<Response, Unavailable>
  /** Fails unless the status is 2xx: `Forbidden` on 401/403, `BadResponse` otherwise. */
  readonly expectOk: (
    response: Response,
    operation: string
  ) => Effect.Effect<Response, BadResponse | Forbidden>
}

const CLIENT_CERT_REQUIRED = /CERTIFICATE_REQUIRED|certificate required/i
const CLIENT_CERT_REFUSED =
  /ALERT_(UNKNOWN_CA|BAD_CERTIFICATE|CERTIFICATE_UNKNOWN|DECRYPT_ERROR)|alert (unknown ca|bad certificate)/i
const SERVER_CERT = /certificate|self[- ]signed|CERT_|UNABLE_TO_VERIFY/i

/** What to do about a TLS failure, for the message; "" when it is not one. */
const tlsHint = (text: string, options: ClientOptions): string => {
  if (CLIENT_CERT_REQUIRED.test(text)) {
    return options.cert === undefined
      ? " (the server requires a client certificate: pass --discovery-opt token.cert=/path/cert.pem and token.key=/path/key.pem)"
      : " (the server requires a client certificate and did not take token.cert)"
  }
  if (CLIENT_CERT_REFUSED.test(text) && options.cert !== undefined) {
    return " (the server refused the client certificate in token.cert: is it signed by a CA the server trusts?)"
  }
  if (SERVER_CERT.test(text))
    return " (to trust a private CA, pass --discovery-opt token.cacert=/path/ca.pem)"
  return ""
}

/** The Node error under an HttpClientError (its own message names the URL, and so the token). */
const underlying = (
  error: HttpClientError.HttpClientError
): { readonly code?: string; readonly message: string } => {
  const cause = error.cause as { readonly code?: unknown; readonly message?: unknown } | undefined
  if (cause !== undefined && typeof cause.message === "string") {
    return typeof cause.code === "string"
      ? { code: cause.code, message: cause.message }
      : { message: cause.message }
  }
  return { message: error.reason }
}

const readPem = (url: string, option: string, path: string | undefined) =>
  path === undefined
    ? Effect.succeed(undefined)
    : Effect.tryPromise({
        try: () => fs.readFile(path, "utf8"),
        catch: (error) =>
          new InvalidUrl({
            url,
            reason: `cannot read ${option} ${JSON.stringify(path)}: ${String((error as Error).message ?? error)}`
          })
      })

/**
 * The agent for an http:// service: node:http's alone. `makeAgent` would also make an https one, which loads
 * node:https, node:tls and node:crypto (2-3 ms of `swarm create`); the client never asks for it, as every
 * instance it was given is http://.
 */
const plainAgent = Effect.map(
  Effect.acquireRelease(
    Effect.sync(() => new Http.Agent({ keepAlive: true })),
    (agent) => Effect.sync(() => agent.destroy())
  ),
  (http): NodeHttpClient.HttpAgent =>
    Object.defineProperty(
      { [NodeHttpClient.HttpAgentTypeId]: NodeHttpClient.HttpAgentTypeId, http },
      "https",
      {
        get: (): never => {
          throw new Error("the token client of an http:// service was asked for an https agent")
        }
      }
    ) as NodeHttpClient.HttpAgent
)

/**
 * Node's client over an agent with the TLS files, or the context's `HttpClient` when no TLS file is given.
 * `secure`: some instance is https://.
 */
const httpClient = (
  url: string,
  secure: boolean,
  options: ClientOptions
): Effect.Effect<HttpClient.HttpClient, InvalidUrl, Scope.Scope> =>
  Effect.gen(function* () {
    if ((options.cert === undefined) !== (options.key === undefined)) {
      return yield* new InvalidUrl({
        url,
        reason: "token.cert and token.key go together: give both for a client certificate, or neither"
      })
    }
    const tls = options.cacert !== undefined || options.cert !== undefined
    if (!tls) {
      const provided = yield* Effect.serviceOption(HttpClient.HttpClient)
      if (Option.isSome(provided)) return provided.value
    }
    const ca = yield* readPem(url, "token.cacert", options.cacert)
    const cert = yield* readPem(url, "token.cert", options.cert)
    const key = yield* readPem(url, "token.key", options.key)
    const agent = secure
      ? yield* NodeHttpClient.makeAgent({
          keepAlive: true,
          ...(ca === undefined ? {} : { ca }),
          ...(cert === undefined ? {} : { cert }),
          ...(key === undefined ? {} : { key })
        })
      : yield* plainAgent
    return yield* Effect.provideService(NodeHttpClient.make, NodeHttpClient.HttpAgent, agent)
  })

const excerpt = (body: string): string => {
  const flat = body.replace(/\s+/g, " ").trim()
  return flat.length > 200 ? `${flat.slice(0, 200)}…` : flat
}

export { excerpt }

/** What every part of one client shares: its HTTP client, the timeout and the token-safe wording. */
interface Shared {
  readonly services: ServiceList
  readonly options: ClientOptions
  readonly timeout: Duration.Duration
  readonly client: HttpClient.HttpClient
  /** A service URL plus the redacted token, for messages. */
  readonly targetOf: (service: string) => string
  /** The text with the token redacted. */
  readonly scrub: (text: string) => string
}

/** One attempt on one instance: a bounded body, a timeout, and failures as `Unavailable`. */
const attempter =
  ({ options, timeout, client, targetOf, scrub }: Shared) =>
  (
    service: string,
    method: "GET" | "POST" | "DELETE",
    path: string,
    requestOptions: RequestOptions
  ): Effect.Effect<Response, Unavailable> => {
    const limit = requestOptions.timeout ?? timeout
    const secure = service.startsWith("https:")
    const unavailable = (reason: "Transport" | "Timeout", detail: string, cause?: unknown) =>
      new Unavailable({ backend: BACKEND, target: targetOf(service), reason, detail: scrub(detail), cause })
    const transport = (error: HttpClientError.HttpClientError) => {
      const { code, message } = underlying(error)
      const hint = secure ? tlsHint(`${code ?? ""} ${message}`, options) : ""
      return unavailable("Transport", `${method} failed: ${message}${hint}`, error.cause)
    }
    let req = HttpClientRequest.make(method)(service + path).pipe(
      HttpClientRequest.setHeader("user-agent", "swarm-discovery")
    )
    if (requestOptions.body !== undefined) {
      req = HttpClientRequest.bodyText(req, requestOptions.body, "text/plain; charset=utf-8")
    }
    const tooLarge = () =>
      unavailable("Transport", `${method} failed: the answer is larger than ${MAX_BODY} bytes`)
    return client.execute(req).pipe(
      Effect.flatMap((response) => {
        const headers = response.headers
        return Effect.map(BoundedText.read(response, headers, MAX_BODY, tooLarge), (body): Response => ({
          service,
          status: response.status,
          headers,
          body
        }))
      }),
      Effect.catchTags({ RequestError: transport, ResponseError: transport }),
      Effect.timeoutFail({
        duration: limit,
        onTimeout: () => unavailable("Timeout", `${method} got no answer within ${Duration.format(limit)}`)
      })
    )
  }

/** `Client.request`: each instance at most once, from the current one, moving the current one past failures. */
const failingOver = (
  { services, targetOf }: Shared,
  rotation: ReturnType<typeof makeRotation>,
  attempt: ReturnType<typeof attempter>
): Client["request"] => {
  /** Instance `i` failed with `why`: move the current one past it, and say so once. */
  const moveOn = (i: number, why: string) =>
    rotation.failed(i)
      ? Effect.logWarning(
          `${BACKEND}: ${targetOf(services[i]!)} failed (${why}); using ${services[rotation.current()]} from now on`
        )
      : Effect.void

  return (method, path, requestOptions = {}) => {
    const pinned = requestOptions.service === undefined ? -1 : services.indexOf(requestOptions.service)
    const order = pinned >= 0 ? [pinned] : rotation.order()
    const tryFrom = (k: number, tried: ReadonlyArray<string>): Effect.Effect<Response, Unavailable> => {
      const i = order[k]!
      const last = k === order.length - 1
      const also = (text: string) => (tried.length === 0 ? text : `${text} (also tried: ${tried.join("; ")})`)
      return attempt(services[i]!, method, path, requestOptions).pipe(
        Effect.flatMap((response) => {
          if (!failsOver(response.status)) return Effect.succeed(response)
          const why = `status ${response.status}`
          const next = last
            ? Effect.succeed(response)
            : tryFrom(k + 1, [...tried, `${services[i]} answered ${response.status}`])
          return Effect.zipRight(moveOn(i, why), next)
        }),
        Effect.catchAll((error) => {
          const next = last
            ? Effect.fail(
                new Unavailable({
                  backend: error.backend,
                  target: error.target,
                  reason: error.reason,
                  detail: also(error.detail),
                  cause: error.cause
                })
              )
            : tryFrom(k + 1, [...tried, `${services[i]}: ${error.detail}`])
          return Effect.zipRight(moveOn(i, error.detail), next)
        })
      )
    }
    return tryFrom(0, [])
  }
}

const expecting =
  ({ targetOf, scrub }: Shared): Client["expectOk"] =>
  (response, operation) => {
    if (response.status >= 200 && response.status < 300) return Effect.succeed(response)
    const target = targetOf(response.service)
    const detail = scrub(excerpt(response.body)) || "(empty body)"
    return Effect.fail(
      response.status === 401 || response.status === 403
        ? new Forbidden({ backend: BACKEND, target, operation, status: response.status, detail })
        : new BadResponse({
            backend: BACKEND,
            target,
            reason: "StatusCode",
            status: response.status,
            detail: `${operation} was refused: ${detail}`
          })
    )
  }

export const makeClient = (
  services: ServiceList,
  token: string | undefined,
  options: ClientOptions = {},
  defaultTimeout: Duration.Duration = REQUEST_TIMEOUT
): Effect.Effect<Client, InvalidUrl | InvalidOption, Scope.Scope> =>
  Effect.gen(function* () {
    const timeout = yield* timeoutOf(options, defaultTimeout)
    const list = services.join(",")
    const url = token === undefined ? list : `token://${list}/${token}`
    const targetOf = (service: string) =>
      token === undefined ? service : `${service}/clusters/${redactToken(token)}`
    const scrub = (text: string) => (token === undefined ? text : text.split(token).join(redactToken(token)))
    const client = yield* httpClient(
      url,
      services.some((service) => service.startsWith("https:")),
      options
    )
    const shared: Shared = { services, options, timeout, client, targetOf, scrub }
    const rotation = makeRotation(services.length)
    return {
      services,
      current: () => services[rotation.current()]!,
      timeout,
      target: () => targetOf(services[rotation.current()]!),
      request: failingOver(shared, rotation, attempter(shared)),
      expectOk: expecting(shared)
    }
  })
