/**
 * The HTTP client under `token://` and `swarm create`: @effect/platform's
 * `HttpClient` bound to one service and one (optional) token, with bounded
 * bodies, a timeout on every request, and errors that never show the token.
 *
 * The client is the `HttpClient` in the context when there is one and no TLS
 * option is given; otherwise Node's, over an agent that carries the private CA
 * (`token.cacert`) and the client certificate (`token.cert`, `token.key`).
 */
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Duration, Effect, Option, type Scope } from "effect"
// fs.promises loads on first use: only when a TLS file is read.
import { promises as fs } from "node:fs"
import * as Http from "node:http"
import * as BoundedText from "./boundedText.js"
import { BadResponse, Forbidden, InvalidUrl, Unavailable } from "../DiscoveryError.js"
import { redactToken } from "../DiscoveryUrl.js"

const BACKEND = "token"

/** Every plain request gives up after this long. */
export const REQUEST_TIMEOUT = Duration.seconds(10)
/** The largest answer read; a longer one fails rather than filling memory. */
export const MAX_BODY = 8 * 1024 * 1024

export interface Response {
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
}

/** The client options among discovery-opts. */
export const clientOptions = (options: Readonly<Record<string, string>>): ClientOptions => ({
  cacert: options["token.cacert"],
  cert: options["token.cert"],
  key: options["token.key"]
})

export interface Client {
  readonly service: string
  /** The service URL plus the redacted token, for messages. */
  readonly target: string
  readonly request: (
    method: "GET" | "POST" | "DELETE",
    path: string,
    options?: { readonly body?: string; readonly timeout?: Duration.Duration }
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
 * request of this client goes to the one http:// service.
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

/** Node's client over an agent with the TLS files, or the context's `HttpClient` when no TLS file is given. */
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

export const makeClient = (
  service: string,
  token: string | undefined,
  options: ClientOptions = {}
): Effect.Effect<Client, InvalidUrl, Scope.Scope> =>
  Effect.gen(function* () {
    const url = token === undefined ? service : `token://${service}/${token}`
    const target = token === undefined ? service : `${service}/clusters/${redactToken(token)}`
    const scrub = (text: string) => (token === undefined ? text : text.split(token).join(redactToken(token)))
    const secure = service.startsWith("https:")
    const client = yield* httpClient(url, secure, options)

    const request: Client["request"] = (method, path, requestOptions = {}) => {
      const timeout = requestOptions.timeout ?? REQUEST_TIMEOUT
      const unavailable = (reason: "Transport" | "Timeout", detail: string, cause?: unknown) =>
        new Unavailable({ backend: BACKEND, target, reason, detail: scrub(detail), cause })
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
            status: response.status,
            headers,
            body
          }))
        }),
        Effect.catchTags({ RequestError: transport, ResponseError: transport }),
        Effect.timeoutFail({
          duration: timeout,
          onTimeout: () =>
            unavailable("Timeout", `${method} got no answer within ${Duration.format(timeout)}`)
        })
      )
    }

    const expectOk: Client["expectOk"] = (response, operation) => {
      if (response.status >= 200 && response.status < 300) return Effect.succeed(response)
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

    return { service, target, request, expectOk }
  })
