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
 * - several instances (`token.url=URL1,URL2`, or `SWARM_TOKEN_URL`): each
 *   request fails over to the next on no connection, a timeout or a 5xx
 *   (see internal/failover.ts). Each attempt is bounded by `token.timeout`,
 *   by default half the heartbeat (1s to 10s) when there are several, so
 *   `join` misses at most one heartbeat when its instance dies or is cut off;
 *   10s with one instance, where a shorter bound has nowhere to send the retry. A long-poll goes to the
 *   instance that gave its index; once the client has moved on, the watch
 *   lists again from the new one and emits only what changed.
 *
 * The HTTP client is @effect/platform's (see internal/tokenClient.ts).
 */
import {
  Clock,
  Config,
  Data,
  Duration,
  Effect,
  Either,
  Equal,
  Option,
  Schedule,
  type Scope,
  Stream
} from "effect"
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

/** The longest `wait` asked of the server; a long-poll's timeout adds the request timeout on top. */
export const MAX_WAIT = Duration.seconds(30)

/**
 * The default bound on one attempt on one instance. With several instances, half the heartbeat, from 1s to
 * `REQUEST_TIMEOUT` (10s): under the heartbeat, so a registration sent to a dead or cut-off instance is sent to the
 * next one before the next heartbeat is due. With one instance there is no next one, and a short bound would only
 * turn a slow answer into a failure: `REQUEST_TIMEOUT`. `token.timeout` overrides both.
 */
export const requestTimeout = (heartbeat: Duration.Duration, instances: number): Duration.Duration =>
  instances > 1
    ? Duration.clamp(Duration.unsafeDivide(heartbeat, 2), {
        minimum: Duration.seconds(1),
        maximum: REQUEST_TIMEOUT
      })
    : REQUEST_TIMEOUT

/** Service URLs from `--url` (or `SWARM_TOKEN_URL`): one, or several instances comma-separated. */
const servicesOf = (service: string): Either.Either<TokenUrl.ServiceList, InvalidUrl> =>
  Either.mapLeft(
    TokenUrl.parseServices(service, "the service URL"),
    (reason) => new InvalidUrl({ url: service, reason })
  )

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
    const client = yield* makeClient(yield* servicesOf(service), undefined, options)
    const response = yield* client
      .request("POST", "/clusters")
      .pipe(Effect.flatMap((response) => client.expectOk(response, "creating a cluster")))
    const token = yield* tokenIn(response.body, response.service, "POST /clusters")
    return token
  }).pipe(Effect.scoped)

/** The service and token that `createReadToken` is given: a `token://` URL, or a bare token on `service` (a list). */
export const resolveTarget = (
  tokenOrUrl: string,
  service: string
): Either.Either<TokenUrl.TokenTarget, InvalidUrl> => {
  const text = tokenOrUrl.trim()
  if (text.toLowerCase().startsWith("token://")) return TokenUrl.parse(text.slice("token://".length))
  const bad = TokenUrl.validateToken(text)
  if (bad !== undefined)
    return Either.left(new InvalidUrl({ url: text, reason: `${bad}; expected a token or token://…` }))
  return Either.map(servicesOf(service), (services) => ({ service: services[0], services, token: text }))
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
    const client = yield* makeClient(target.services, target.token, options)
    const response = yield* client.request("POST", `/clusters/${target.token}/read-token`).pipe(
      Effect.flatMap((response) =>
        response.status === 404 || response.status === 405
          ? new BadResponse({
              backend: BACKEND,
              target: client.target(),
              reason: "StatusCode",
              status: response.status,
              detail:
                "this discovery service has no read-only tokens (it predates POST /clusters/{token}/read-token)"
            })
          : client.expectOk(response, "asking for a read-only token")
      )
    )
    const token = yield* tokenIn(response.body, client.target(), "POST /clusters/…/read-token")
    return token
  }).pipe(Effect.scoped)

interface Listing {
  /** The instance that answered. */
  readonly service: string
  readonly entries: Entries.Entries
  /** `X-Discovery-Index`, when the server supports long-polling. */
  readonly index: Option.Option<string>
}

const decodeListing = (client: Client, response: Response): Effect.Effect<Listing, BadResponse> =>
  Effect.gen(function* () {
    const decodeError = (detail: string) =>
      new BadResponse({ backend: BACKEND, target: client.target(), reason: "Decode", detail })
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
      else yield* Effect.logWarning(`ignoring an entry from ${client.target()}: ${parsed.left.message}`)
    }
    const header = response.headers["x-discovery-index"]
    const index =
      typeof header === "string" && /^[0-9]{1,20}$/.test(header.trim())
        ? Option.some(header.trim())
        : Option.none()
    return { service: response.service, entries: Entries.fromIterable(entries), index }
  })

/** Where a long-poll picks up: the index an instance gave, and that instance. */
interface Since {
  readonly index: string
  readonly service: string
}

const sinceOf = (listing: Listing): Option.Option<Since> =>
  Option.map(listing.index, (index) => Data.struct({ index, service: listing.service }))

const ttlSeconds = (ttl: Duration.Duration): number => Math.max(1, Math.ceil(Duration.toMillis(ttl) / 1000))

/**
 * The membership stream: a plain GET, then long-polls on the instance that answered (or polls every heartbeat
 * when the server sends no index). After a failure, or once the client has moved to another instance, it lists
 * again, and `changesWith` keeps a snapshot already emitted from being emitted twice.
 */
const watchOf = (
  client: Client,
  fetch: (since: Option.Option<Since>) => Effect.Effect<Listing, DiscoveryError>,
  heartbeat: Duration.Duration,
  wait: Duration.Duration
): Stream.Stream<Entries.Entries, DiscoveryError> => {
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

  return Stream.unwrap(
    Effect.gen(function* () {
      const first = yield* fetch(Option.none())
      let since = sinceOf(first)
      let failing = false
      // A long-poll that failed on an instance the client has since left: list from the new one at once.
      const switched = (error: DiscoveryError) =>
        Option.isSome(since) && since.value.service !== client.current()
          ? Effect.logWarning(`watch: ${error.message}; listing from ${client.current()}`).pipe(
              Effect.zipRight(fetch(Option.none()))
            )
          : Effect.fail(error)
      const next = Effect.gen(function* () {
        // After a switch, an index from the old instance means nothing to the new one.
        if (Option.isSome(since) && since.value.service !== client.current()) since = Option.none()
        else if (Option.isNone(since)) yield* Effect.sleep(heartbeat)
        const sent = since
        const started = yield* Clock.currentTimeMillis
        const listing = yield* Effect.suspend(() => fetch(since)).pipe(
          Effect.catchAll(switched),
          Effect.tapError((error) =>
            Effect.sync(() => {
              failing = true
              // The server may have restarted with another index: resynchronise with a plain GET.
              since = Option.none()
            }).pipe(Effect.zipRight(Effect.logWarning(`watch: ${error.message}; retrying`)))
          ),
          Effect.retry(retry)
        )
        if (failing) {
          failing = false
          yield* Effect.logInfo(`watch: ${client.target()} answers again`)
        }
        since = sinceOf(listing)
        const unchanged = Option.isSome(sent) && Option.isSome(since) && Equal.equals(sent.value, since.value)
        if (unchanged && (yield* Clock.currentTimeMillis) - started < Duration.toMillis(wait) / 2) {
          yield* Effect.sleep(idlePause)
        }
        return listing.entries
      })
      return Stream.concat(Stream.succeed(first.entries), Stream.repeatEffect(next))
    })
  ).pipe(Stream.changesWith(Entries.equals))
}

export const make = (
  rest: string,
  options: ResolvedOptions
): Effect.Effect<Backend, DiscoveryError, Scope.Scope> =>
  Effect.gen(function* () {
    const defaultService = yield* Config.option(Config.string("SWARM_TOKEN_URL")).pipe(
      Effect.orElseSucceed(() => Option.none<string>())
    )
    const { services, token } = yield* TokenUrl.parse(rest, {
      defaultService: Option.getOrUndefined(defaultService),
      override: options.options["token.url"]
    })
    const heartbeat = Duration.max(options.heartbeat, Duration.millis(1))
    const client = yield* makeClient(
      services,
      token,
      clientOptions(options.options),
      requestTimeout(heartbeat, services.length)
    )
    const cluster = `/clusters/${token}`
    const wait = Duration.clamp(heartbeat, { minimum: Duration.seconds(1), maximum: MAX_WAIT })
    const waitParam = `${Math.round(Duration.toSeconds(wait))}s`

    /** A plain GET (from the current instance on), or a long-poll on the instance that gave `index`. */
    const fetch = (since: Option.Option<Since>): Effect.Effect<Listing, DiscoveryError> =>
      client
        .request(
          "GET",
          Option.match(since, {
            onNone: () => cluster,
            onSome: ({ index }) => `${cluster}?index=${index}&wait=${waitParam}`
          }),
          Option.match(since, {
            onNone: () => ({}),
            onSome: ({ service }) => ({ service, timeout: Duration.sum(wait, client.timeout) })
          })
        )
        .pipe(
          Effect.flatMap((response) => client.expectOk(response, "listing the cluster")),
          Effect.flatMap((response) => decodeListing(client, response))
        )

    const watch = watchOf(client, fetch, heartbeat, wait)

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
                  `${client.target()} has no per-entry DELETE (status ${response.status}); ${Entry.format(entry)} will expire with its TTL`
                )
              : client.expectOk(response, `deregistering ${Entry.format(entry)}`)
          ),
          Effect.asVoid
        ),
      watch
    }
  })
