/**
 * `token://`: the hosted-discovery protocol of Docker Hub's v1 API, spoken to
 * `swarm serve` or any compatible service.
 *
 * - `register` posts `host:port` with a TTL and checks the status (Swarm
 *   classic ignored it, and nodes vanished without a word);
 * - `deregister` deletes one entry; a 404/405 means the server predates that
 *   extension, so the entry simply expires;
 * - `watch` long-polls when the server sends `X-Discovery-Index`, and polls
 *   every heartbeat otherwise. The first fetch failing fails the stream (so
 *   `swarm list` reports it); later failures are logged and retried forever.
 *
 * Plain `node:http`/`node:https`: no HTTP framework on the CLI's start path.
 */
import type { IncomingHttpHeaders } from "node:http"
import * as Http from "node:http"
import * as Https from "node:https"
import { readFile } from "node:fs/promises"
import { Clock, Config, Duration, Effect, Either, Option, Schedule, type Scope, Stream } from "effect"
import type { DiscoveryShape, ResolvedOptions } from "../Discovery.js"
import { BadResponse, type DiscoveryError, InvalidUrl, Unavailable } from "../DiscoveryError.js"
import { redactToken } from "../DiscoveryUrl.js"
import * as Entries from "../Entries.js"
import * as Entry from "../Entry.js"
import * as TokenUrl from "../TokenUrl.js"

const BACKEND = "token"

/** Every plain request gives up after this long. */
export const REQUEST_TIMEOUT = Duration.seconds(10)
/** The longest `wait` asked of the server; the request timeout adds `REQUEST_TIMEOUT` on top. */
export const MAX_WAIT = Duration.seconds(30)
const MAX_BODY = 8 * 1024 * 1024

interface Response {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  readonly body: string
}

export interface ClientOptions {
  /** PEM file of a private CA to trust (the discovery-opt `token.cacert`). */
  readonly cacert?: string | undefined
}

/** A tiny HTTP client bound to one service and one (optional) token, with errors that never show the token. */
export interface Client {
  readonly service: string
  /** The service URL plus the redacted token, for messages. */
  readonly target: string
  readonly request: (
    method: string,
    path: string,
    options?: { readonly body?: string; readonly timeout?: Duration.Duration }
  ) => Effect.Effect<Response, Unavailable>
  /** Fails with `BadResponse` unless the status is 2xx. */
  readonly expectOk: (response: Response, operation: string) => Effect.Effect<Response, BadResponse>
}

const TLS_HINT = /certificate|self[- ]signed|CERT_|UNABLE_TO_VERIFY/i

export const makeClient = (
  service: string,
  token: string | undefined,
  options: ClientOptions = {}
): Effect.Effect<Client, InvalidUrl, Scope.Scope> =>
  Effect.gen(function* () {
    const url = token === undefined ? service : `token://${service}/${token}`
    const target = token === undefined ? service : `${service}/clusters/${redactToken(token)}`
    const scrub = (text: string) => (token === undefined ? text : text.split(token).join(redactToken(token)))
    const ca =
      options.cacert === undefined
        ? undefined
        : yield* Effect.tryPromise({
            try: () => readFile(options.cacert!, "utf8"),
            catch: (error) =>
              new InvalidUrl({
                url,
                reason: `cannot read token.cacert ${JSON.stringify(options.cacert)}: ${String((error as Error).message ?? error)}`
              })
          })
    const secure = service.startsWith("https:")
    const agent = yield* Effect.acquireRelease(
      Effect.sync(() =>
        secure
          ? new Https.Agent({ keepAlive: true, ...(ca === undefined ? {} : { ca }) })
          : new Http.Agent({ keepAlive: true })
      ),
      (agent) => Effect.sync(() => agent.destroy())
    )

    const request: Client["request"] = (method, path, requestOptions = {}) => {
      const timeout = requestOptions.timeout ?? REQUEST_TIMEOUT
      const body = requestOptions.body
      const unavailable = (reason: "transport" | "timeout", detail: string, cause?: unknown) =>
        new Unavailable({ backend: BACKEND, target, reason, detail: scrub(detail), cause })
      return Effect.async<Response, Unavailable>((resumeOnce, signal) => {
        let done = false
        const resume = (effect: Effect.Effect<Response, Unavailable>) => {
          if (done) return
          done = true
          resumeOnce(effect)
        }
        const headers: Record<string, string> = { "user-agent": "swarm-discovery" }
        if (body !== undefined) {
          headers["content-type"] = "text/plain; charset=utf-8"
          headers["content-length"] = String(Buffer.byteLength(body))
        }
        const onError = (error: NodeJS.ErrnoException) => {
          if (signal.aborted) return
          const hint =
            secure && TLS_HINT.test(`${error.code} ${error.message}`)
              ? " (to trust a private CA, pass --discovery-opt token.cacert=/path/ca.pem)"
              : ""
          resume(Effect.fail(unavailable("transport", `${method} failed: ${error.message}${hint}`, error)))
        }
        const req = (secure ? Https : Http).request(
          service + path,
          { method, agent, headers, signal },
          (res) => {
            const chunks: Array<Buffer> = []
            let size = 0
            res.on("data", (chunk: Buffer) => {
              size += chunk.length
              if (size > MAX_BODY) {
                res.destroy(new Error(`the answer is larger than ${MAX_BODY} bytes`))
                return
              }
              chunks.push(chunk)
            })
            res.on("error", onError)
            res.on("end", () =>
              resume(
                Effect.succeed({
                  status: res.statusCode ?? 0,
                  headers: res.headers,
                  body: Buffer.concat(chunks).toString("utf8")
                })
              )
            )
          }
        )
        req.on("error", onError)
        req.end(body)
      }).pipe(
        Effect.timeoutFail({
          duration: timeout,
          onTimeout: () =>
            unavailable("timeout", `${method} got no answer within ${Duration.format(timeout)}`)
        })
      )
    }

    const expectOk: Client["expectOk"] = (response, operation) =>
      response.status >= 200 && response.status < 300
        ? Effect.succeed(response)
        : Effect.fail(
            new BadResponse({
              backend: BACKEND,
              target,
              reason: "status",
              status: response.status,
              detail: `${operation} was refused: ${scrub(excerpt(response.body)) || "(empty body)"}`
            })
          )

    return { service, target, request, expectOk }
  })

const excerpt = (body: string): string => {
  const flat = body.replace(/\s+/g, " ").trim()
  return flat.length > 200 ? `${flat.slice(0, 200)}…` : flat
}

/** `POST {service}/clusters`: a new cluster; returns its token. */
export const createCluster = (
  service: string,
  options: ClientOptions = {}
): Effect.Effect<string, DiscoveryError> =>
  Effect.gen(function* () {
    const normalized = yield* Either.mapLeft(
      TokenUrl.normalizeService(service, "the service URL"),
      (reason) => new InvalidUrl({ url: service, reason })
    )
    const client = yield* makeClient(normalized, undefined, options)
    const response = yield* client
      .request("POST", "/clusters")
      .pipe(Effect.flatMap((response) => client.expectOk(response, "creating a cluster")))
    const token = response.body.trim()
    const bad = TokenUrl.validateToken(token)
    if (bad !== undefined) {
      return yield* new BadResponse({
        backend: BACKEND,
        target: client.target,
        reason: "decode",
        detail: `the answer to POST /clusters is not a token: ${bad}`
      })
    }
    return token
  }).pipe(Effect.scoped)

interface Listing {
  readonly entries: Entries.Entries
  /** `X-Discovery-Index`, when the server supports long-polling. */
  readonly index: Option.Option<string>
}

const decodeListing = (client: Client, response: Response): Effect.Effect<Listing, BadResponse> =>
  Effect.gen(function* () {
    const decodeError = (detail: string) =>
      new BadResponse({ backend: BACKEND, target: client.target, reason: "decode", detail })
    let json: unknown
    try {
      json = JSON.parse(response.body)
    } catch {
      return yield* decodeError(
        `expected a JSON array of "host:port", got ${JSON.stringify(excerpt(response.body))}`
      )
    }
    // Go servers encode an empty list as null.
    const items = json === null ? [] : json
    if (!Array.isArray(items) || items.some((item) => typeof item !== "string")) {
      return yield* decodeError(`expected a JSON array of "host:port" strings, got ${excerpt(response.body)}`)
    }
    const entries: Array<Entry.Entry> = []
    for (const item of items as ReadonlyArray<string>) {
      const parsed = Entry.parse(item)
      if (Either.isRight(parsed)) entries.push(parsed.right)
      else yield* Effect.logWarning(`ignoring an entry from ${client.target}: ${parsed.left.message}`)
    }
    const header = response.headers["x-discovery-index"]
    const index =
      typeof header === "string" && /^[0-9]{1,20}$/.test(header.trim())
        ? Option.some(header.trim())
        : Option.none()
    return { entries: Entries.fromIterable(entries), index }
  })

const ttlSeconds = (ttl: Duration.Duration): number => Math.max(1, Math.ceil(Duration.toMillis(ttl) / 1000))

export const make = (
  rest: string,
  options: ResolvedOptions
): Effect.Effect<DiscoveryShape, DiscoveryError, Scope.Scope> =>
  Effect.gen(function* () {
    const defaultService = yield* Config.option(Config.string("SWARM_TOKEN_URL")).pipe(
      Effect.orElseSucceed(() => Option.none<string>())
    )
    const { service, token } = yield* TokenUrl.parse(rest, {
      defaultService: Option.getOrUndefined(defaultService),
      override: options.options["token.url"]
    })
    const client = yield* makeClient(service, token, { cacert: options.options["token.cacert"] })
    const cluster = `/clusters/${token}`
    const heartbeat = Duration.max(options.heartbeat, Duration.millis(1))
    const wait = Duration.clamp(heartbeat, { minimum: Duration.seconds(1), maximum: MAX_WAIT })
    const waitParam = `${Math.round(Duration.toSeconds(wait))}s`

    const fetch = (index: Option.Option<string>): Effect.Effect<Listing, DiscoveryError> =>
      client
        .request(
          "GET",
          Option.match(index, {
            onNone: () => cluster,
            onSome: (n) => `${cluster}?index=${n}&wait=${waitParam}`
          }),
          Option.isSome(index) ? { timeout: Duration.sum(wait, REQUEST_TIMEOUT) } : {}
        )
        .pipe(
          Effect.flatMap((response) => client.expectOk(response, "listing the cluster")),
          Effect.flatMap((response) => decodeListing(client, response))
        )

    // Transient failures: back off exponentially up to about one heartbeat (at most 10s), with jitter.
    const retry = Schedule.exponential(Duration.millis(250)).pipe(
      Schedule.union(
        Schedule.spaced(
          Duration.clamp(heartbeat, { minimum: Duration.seconds(1), maximum: Duration.seconds(10) })
        )
      ),
      Schedule.jittered
    )
    // A long-poll that came back early with no change means the server ignores `wait`: pause so we do not spin.
    const idlePause = Duration.min(heartbeat, Duration.millis(250))

    const watch: Stream.Stream<Entries.Entries, DiscoveryError> = Stream.unwrap(
      Effect.gen(function* () {
        const first = yield* fetch(Option.none())
        let index = first.index
        let failing = false
        const next = Effect.gen(function* () {
          if (Option.isNone(index)) yield* Effect.sleep(heartbeat)
          const sent = index
          const started = yield* Clock.currentTimeMillis
          const listing = yield* Effect.suspend(() => fetch(index)).pipe(
            Effect.tapError((error) =>
              Effect.sync(() => {
                failing = true
                // The server may have restarted with another index: resynchronise with a plain GET.
                index = Option.none()
              }).pipe(Effect.zipRight(Effect.logWarning(`watch: ${error.message}; retrying`)))
            ),
            Effect.retry(retry)
          )
          if (failing) {
            failing = false
            yield* Effect.logInfo(`watch: ${client.target} answers again`)
          }
          index = listing.index
          const unchanged =
            Option.isSome(sent) && Option.isSome(listing.index) && sent.value === listing.index.value
          if (unchanged && (yield* Clock.currentTimeMillis) - started < Duration.toMillis(wait) / 2) {
            yield* Effect.sleep(idlePause)
          }
          return listing.entries
        })
        return Stream.concat(Stream.succeed(first.entries), Stream.repeatEffect(next))
      })
    ).pipe(Stream.changesWith(Entries.equals))

    return {
      register: (entry) =>
        client
          .request("POST", `${cluster}?ttl=${ttlSeconds(options.ttl)}`, { body: Entry.format(entry) })
          .pipe(
            Effect.flatMap((response) => client.expectOk(response, `registering ${Entry.format(entry)}`)),
            Effect.asVoid
          ),
      deregister: (entry) =>
        client.request("DELETE", `${cluster}/${encodeURIComponent(Entry.format(entry))}`).pipe(
          Effect.flatMap((response) =>
            response.status === 404 || response.status === 405
              ? Effect.logDebug(
                  `${client.target} has no per-entry DELETE (status ${response.status}); ${Entry.format(entry)} will expire with its TTL`
                )
              : client.expectOk(response, `deregistering ${Entry.format(entry)}`)
          ),
          Effect.asVoid
        ),
      watch
    }
  })
