/**
 * The discovery server's wire format: routes, request decoding and answers.
 * Pure: no I/O, no store; `Server.ts` gives the decoded requests meaning.
 *
 * Hub API v1 (Docker's own client talks to it unchanged):
 *
 *   POST   /v1/clusters                       200 text/plain token (32 lowercase hex, no newline)
 *   POST   /v1/clusters/{token}?ttl={seconds} body host:port (any content type)  200 "OK"
 *   GET    /v1/clusters/{token}               200 JSON array of host:port, sorted; X-Discovery-Index
 *   DELETE /v1/clusters/{token}               200 "OK", removes every entry
 *
 * Extensions:
 *
 *   DELETE /v1/clusters/{token}/{url-encoded host:port}   200 "OK", 404 when absent
 *   POST   /v1/clusters/{token}/read-token            200 text/plain: the cluster's read-only token (the same each
 *                                                     time); with it GET works, register and deletes get 403
 *   GET    /v1/clusters/{token}?index=N&wait=30s          long-poll until the index differs from N
 *   GET    /healthz                                       200 "OK"
 *   GET    /metrics                                       Prometheus text
 *
 * Tokens are 32 hexadecimal digits; upper case is accepted and means the same
 * cluster as lower case (tokens are canonicalised to lower case). Durations
 * (`ttl`, `wait`) are whole seconds (`30`) or Go syntax (`30s`, `1m30s`).
 */
import { Either, Option } from "effect"
import * as Entry from "../Entry.js"
import * as GoDuration from "../GoDuration.js"

/** Route names, as they appear in metrics and logs. */
export type RouteName =
  | "create"
  | "register"
  | "list"
  | "watch"
  | "delete_cluster"
  | "delete_entry"
  | "read_token"
  | "healthz"
  | "metrics"
  | "console"
  | "admin"
  | "unknown"

export type ApiRequest =
  | { readonly _tag: "Create" }
  | {
      readonly _tag: "Register"
      readonly token: string
      /** Canonical `host:port`. */
      readonly address: string
      /** As asked; the server clamps it. None: use the default. */
      readonly ttlMillis: Option.Option<number>
    }
  | {
      readonly _tag: "List"
      readonly token: string
      /** Present for a long-poll. */
      readonly wait: Option.Option<{ readonly index: number; readonly waitMillis: Option.Option<number> }>
    }
  | { readonly _tag: "DeleteCluster"; readonly token: string }
  | { readonly _tag: "DeleteEntry"; readonly token: string; readonly address: string }
  | { readonly _tag: "ReadToken"; readonly token: string }
  | { readonly _tag: "Health" }
  | { readonly _tag: "Metrics" }

/** An answer to send as is. */
export interface ApiResponse {
  readonly status: number
  readonly contentType: string
  readonly body: string
  readonly headers?: Readonly<Record<string, string>>
}

/** An answer plus the route it was for (metrics and logs). */
export interface Answer extends ApiResponse {
  readonly route: RouteName
  /** The body, already encoded (shared list answers): sent as is. */
  readonly encoded?: Buffer
  /** Set on answers to early writes: send only after `Handler.whenDurable` (`Handler.ts`) calls back. */
  readonly pending?: boolean
  /** The cluster, redacted, for logs. */
  readonly cluster?: string
}

/** A request refused before it reached the store (4xx). */
export interface Problem {
  readonly _tag: "Problem"
  readonly route: RouteName
  readonly status: 400 | 404 | 405 | 413
  readonly message: string
  readonly allow?: string
}

export const TEXT = "text/plain; charset=utf-8"
export const JSON_TYPE = "application/json"
export const PROMETHEUS = "text/plain; version=0.0.4; charset=utf-8"
export const INDEX_HEADER = "X-Discovery-Index"

const TOKEN = /^[0-9a-fA-F]{32}$/

/** Shows a client's value in a message: quoted, and cut short. */
export const show = (value: string): string =>
  JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value)

const problem = (route: RouteName, status: Problem["status"], message: string, allow?: string): Problem =>
  allow === undefined
    ? { _tag: "Problem", route, status, message }
    : { _tag: "Problem", route, status, message, allow }

export const isProblem = (x: ApiRequest | Problem): x is Problem => x._tag === "Problem"

export const ok = (body = "OK", contentType = TEXT): ApiResponse => ({ status: 200, contentType, body })

/** Error answers end with a newline, for people using curl. */
export const error = (status: number, message: string, headers?: Record<string, string>): ApiResponse =>
  headers === undefined
    ? { status, contentType: TEXT, body: `${message}\n` }
    : { status, contentType: TEXT, body: `${message}\n`, headers }

export const fromProblem = (p: Problem): ApiResponse =>
  error(p.status, p.message, p.allow === undefined ? undefined : { Allow: p.allow })

export const list = (addresses: ReadonlyArray<string>, index: number): ApiResponse =>
  listBody(JSON.stringify(addresses), index)

/** A list answer from its JSON body (already encoded). */
export const listBody = (json: string, index: number): ApiResponse => ({
  status: 200,
  contentType: JSON_TYPE,
  body: json,
  headers: { [INDEX_HEADER]: String(index) }
})

const parseToken = (route: RouteName, raw: string): Either.Either<string, Problem> =>
  TOKEN.test(raw)
    ? Either.right(raw.toLowerCase())
    : Either.left(
        problem(
          route,
          400,
          `invalid cluster token ${show(raw)}: expected 32 hexadecimal characters, as returned by POST /v1/clusters`
        )
      )

const parseAddress = (route: RouteName, raw: string): Either.Either<string, Problem> =>
  Either.match(Entry.parse(raw), {
    onLeft: (e) => Either.left(problem(route, 400, e.message)),
    onRight: (entry) => Either.right(Entry.format(entry))
  })

const WHOLE_SECONDS = /^[0-9]{1,15}$/

/** `30` (seconds) or a Go duration (`30s`); non-negative. */
const parseSeconds = (
  route: RouteName,
  name: string,
  raw: string,
  hint: string
): Either.Either<number, Problem> => {
  const value = raw.trim()
  if (WHOLE_SECONDS.test(value)) return Either.right(Number(value) * 1000)
  const parsed = GoDuration.parseMillis(value)
  if (Either.isRight(parsed) && parsed.right >= 0) return Either.right(parsed.right)
  return Either.left(
    problem(
      route,
      400,
      `invalid ${name} ${show(raw)}: expected whole seconds (30) or a Go duration (30s, 1m30s), not negative; ${hint}`
    )
  )
}

const INDEX = /^[0-9]{1,16}$/

/** The query string's parameters; a repeated name is refused (which one would win is a guess). */
const parseQuery = (route: RouteName, query: string): Either.Either<ReadonlyMap<string, string>, Problem> => {
  const out = new Map<string, string>()
  if (query === "") return Either.right(out)
  for (const [k, v] of new URLSearchParams(query)) {
    if (out.has(k))
      return Either.left(problem(route, 400, `query parameter ${show(k)} is given more than once`))
    out.set(k, v)
  }
  return Either.right(out)
}

const GET = "GET, HEAD"

/** `/v1/clusters/{token}/read-token` and `/v1/clusters/{token}/{host:port}`. */
const parseBelowCluster = (method: string, rawToken: string, rawEntry: string): ApiRequest | Problem => {
  if (rawEntry === "read-token") {
    if (method !== "POST") {
      return problem(
        "read_token",
        405,
        `use POST /v1/clusters/{token}/read-token to get the cluster's read-only token`,
        "POST"
      )
    }
    return Either.match(parseToken("read_token", rawToken), {
      onLeft: (p): ApiRequest | Problem => p,
      onRight: (token) => ({ _tag: "ReadToken", token })
    })
  }
  if (method !== "DELETE") {
    return problem(
      "delete_entry",
      405,
      `use DELETE /v1/clusters/{token}/{host:port} to remove one entry`,
      "DELETE"
    )
  }
  return Either.match(parseToken("delete_entry", rawToken), {
    onLeft: (p) => p,
    onRight: (token) => {
      let decoded: string
      try {
        decoded = decodeURIComponent(rawEntry)
      } catch {
        return problem("delete_entry", 400, `invalid address ${show(rawEntry)}: bad percent-encoding`)
      }
      return Either.match(parseAddress("delete_entry", decoded), {
        onLeft: (p): ApiRequest | Problem => p,
        onRight: (address) => ({ _tag: "DeleteEntry", token, address })
      })
    }
  })
}

/** POST /v1/clusters/{token}?ttl=…, the address in the body. */
const parseRegister = (
  token: string,
  params: ReadonlyMap<string, string>,
  body: string
): ApiRequest | Problem => {
  const rawTtl = params.get("ttl")
  const ttl =
    rawTtl === undefined
      ? Either.right(Option.none<number>())
      : Either.map(parseSeconds("register", "ttl", rawTtl, "for example ?ttl=180"), Option.some)
  if (Either.isLeft(ttl)) return ttl.left
  const address = parseAddress("register", body.trim())
  if (Either.isLeft(address)) return address.left
  return { _tag: "Register", token, address: address.right, ttlMillis: ttl.right }
}

/** GET /v1/clusters/{token}, a long-poll with `?index=N&wait=…`. */
const parseList = (token: string, params: ReadonlyMap<string, string>): ApiRequest | Problem => {
  const rawIndex = params.get("index")
  const rawWait = params.get("wait")
  if (rawIndex === undefined) {
    if (rawWait !== undefined) {
      return problem(
        "watch",
        400,
        `wait=${show(rawWait)} needs index=N (the X-Discovery-Index of your last answer)`
      )
    }
    return { _tag: "List", token, wait: Option.none() }
  }
  if (!INDEX.test(rawIndex.trim())) {
    return problem(
      "watch",
      400,
      `invalid index ${show(rawIndex)}: expected a whole number, the X-Discovery-Index header of an earlier answer`
    )
  }
  const waitMillis =
    rawWait === undefined
      ? Either.right(Option.none<number>())
      : Either.map(parseSeconds("watch", "wait", rawWait, "for example &wait=30s"), Option.some)
  if (Either.isLeft(waitMillis)) return waitMillis.left
  return {
    _tag: "List",
    token,
    wait: Option.some({ index: Number(rawIndex.trim()), waitMillis: waitMillis.right })
  }
}

/** `/v1/clusters/{token}`: register, list (or long-poll) and delete. */
const parseCluster = (
  method: string,
  rawToken: string,
  query: string,
  body: string
): ApiRequest | Problem => {
  const isGet = method === "GET" || method === "HEAD"
  const route: RouteName =
    method === "POST" ? "register" : isGet ? "list" : method === "DELETE" ? "delete_cluster" : "unknown"
  if (route === "unknown") {
    return problem(route, 405, `use GET, POST or DELETE on /v1/clusters/{token}`, "GET, HEAD, POST, DELETE")
  }
  const token = parseToken(route, rawToken)
  if (Either.isLeft(token)) return token.left
  const params = parseQuery(route, query)
  if (Either.isLeft(params)) return params.left
  if (route === "register") return parseRegister(token.right, params.right, body)
  if (route === "delete_cluster") return { _tag: "DeleteCluster", token: token.right }
  return parseList(token.right, params.right)
}

/**
 * Decodes one request. `body` is the request body as text (already limited
 * in size by the caller); only a registration reads it.
 */
export const parse = (method: string, url: string, body: string): ApiRequest | Problem => {
  const q = url.indexOf("?")
  // Paths match exactly: `/v1/clusters/` is a missing token, not a request to create a cluster.
  const path = q < 0 ? url : url.slice(0, q)
  const query = q < 0 ? "" : url.slice(q + 1)
  const isGet = method === "GET" || method === "HEAD"

  if (path === "/healthz")
    return isGet ? { _tag: "Health" } : problem("healthz", 405, `use GET for /healthz`, GET)
  if (path === "/metrics")
    return isGet ? { _tag: "Metrics" } : problem("metrics", 405, `use GET for /metrics`, GET)
  if (path === "/v1/clusters") {
    return method === "POST"
      ? { _tag: "Create" }
      : problem(
          "create",
          405,
          `use POST /v1/clusters to create a cluster (there is no list of clusters)`,
          "POST"
        )
  }
  if (!path.startsWith("/v1/clusters/")) {
    return problem("unknown", 404, `no such route ${show(path)}; the API lives under /v1/clusters`)
  }
  const rest = path.slice("/v1/clusters/".length)
  const slash = rest.indexOf("/")
  return slash >= 0
    ? parseBelowCluster(method, rest.slice(0, slash), rest.slice(slash + 1))
    : parseCluster(method, rest, query, body)
}

/** The route name of a decoded request, for metrics and logs. */
export const routeOf = (request: ApiRequest): RouteName => {
  switch (request._tag) {
    case "Create":
      return "create"
    case "Register":
      return "register"
    case "List":
      return Option.isSome(request.wait) ? "watch" : "list"
    case "DeleteCluster":
      return "delete_cluster"
    case "DeleteEntry":
      return "delete_entry"
    case "ReadToken":
      return "read_token"
    case "Health":
      return "healthz"
    case "Metrics":
      return "metrics"
  }
}
