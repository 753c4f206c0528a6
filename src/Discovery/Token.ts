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
 * - a 401/403 is `Forbidden` (for example a read-only token used to
 *   register), which `join` does not retry.
 *
 * The HTTP client is @effect/platform's (see internal/tokenClient.ts).
 */
import { Clock, Config, Duration, Effect, Either, Option, Schedule, type Scope, Stream } from "effect"
import type { Backend, ResolvedOptions } from "./Backend.js"
import { BadResponse, type DiscoveryError, InvalidUrl } from "../DiscoveryError.js"
import * as Entries from "../Entries.js"
import * as Entry from "../Entry.js"
import {
  type Client,
  type ClientOptions,
  clientOptions,
  excerpt,
  makeClient,
  REQUEST_TIMEOUT,
  type Response
} from "../internal/tokenClient.js"
import * as TokenUrl from "../TokenUrl.js"

export { type ClientOptions, clientOptions, REQUEST_TIMEOUT } from "../internal/tokenClient.js"

const BACKEND = "token"

/** The longest `wait` asked of the server; the request timeout adds `REQUEST_TIMEOUT` on top. */
export const MAX_WAIT = Duration.seconds(30)

/** The token a POST answered with, or `BadResponse` when the body is not one. */
const tokenIn = (body: string, target: string, request: string): Effect.Effect<string, BadResponse> => {
  const token = body.trim()
  const bad = TokenUrl.validateToken(token)
  return bad === undefined
    ? Effect.succeed(token)
    : Effect.fail(
        new BadResponse({
          backend: BACKEND,
          target,
          reason: "Decode",
          detail: `the answer to ${request} is not a token: ${bad}`
        })
      )
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
    const token = yield* tokenIn(response.body, client.target, "POST /clusters")
    return token
  }).pipe(Effect.scoped)

/** The service and token that `createReadToken` is given: a `token://` URL, or a bare token on `service`. */
export const resolveTarget = (
  tokenOrUrl: string,
  service: string
): Either.Either<TokenUrl.TokenTarget, InvalidUrl> => {
  const text = tokenOrUrl.trim()
  if (text.toLowerCase().startsWith("token://")) return TokenUrl.parse(text.slice("token://".length))
  const bad = TokenUrl.validateToken(text)
  if (bad !== undefined)
    return Either.left(new InvalidUrl({ url: text, reason: `${bad}; expected a token or token://…` }))
  return Either.map(
    Either.mapLeft(
      TokenUrl.normalizeService(service, "the service URL"),
      (reason) => new InvalidUrl({ url: service, reason })
    ),
    (normalized) => ({ service: normalized, token: text })
  )
}

/**
 * `POST {service}/clusters/{token}/read-token`: the cluster's read-only token,
 * the same each time. With it `list` and `watch` work; `register` and the
 * deletes get 403 (`Forbidden`).
 */
export const createReadToken = (
  target: TokenUrl.TokenTarget,
  options: ClientOptions = {}
): Effect.Effect<string, DiscoveryError> =>
  Effect.gen(function* () {
    const client = yield* makeClient(target.service, target.token, options)
    const response = yield* client.request("POST", `/clusters/${target.token}/read-token`).pipe(
      Effect.flatMap((response) =>
        response.status === 404 || response.status === 405
          ? new BadResponse({
              backend: BACKEND,
              target: client.target,
              reason: "StatusCode",
              status: response.status,
              detail:
                "this discovery service has no read-only tokens (it predates POST /clusters/{token}/read-token)"
            })
          : client.expectOk(response, "asking for a read-only token")
      )
    )
    const token = yield* tokenIn(response.body, client.target, "POST /clusters/…/read-token")
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
      new BadResponse({ backend: BACKEND, target: client.target, reason: "Decode", detail })
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
): Effect.Effect<Backend, DiscoveryError, Scope.Scope> =>
  Effect.gen(function* () {
    const defaultService = yield* Config.option(Config.string("SWARM_TOKEN_URL")).pipe(
      Effect.orElseSucceed(() => Option.none<string>())
    )
    const { service, token } = yield* TokenUrl.parse(rest, {
      defaultService: Option.getOrUndefined(defaultService),
      override: options.options["token.url"]
    })
    const client = yield* makeClient(service, token, clientOptions(options.options))
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
