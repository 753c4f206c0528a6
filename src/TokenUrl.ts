/**
 * The `token://` URL forms, resolved to a service base URL and a token:
 *
 * - `token://<token>`: the default service (`SWARM_TOKEN_URL`, else `http://127.0.0.1:8375/v1`);
 * - `token://host[:port]/path/<token>`: `https://host[:port]/path`, as Swarm classic did;
 * - `token://http://host:port/path/<token>` and `token://https://…`: explicit.
 *
 * The discovery-opt `token.url` replaces the service in every form. It and
 * `SWARM_TOKEN_URL` may name several instances of one service, comma-separated
 * (`https://a:8375/v1,https://b:8375/v1`): the client fails over between them.
 *
 * Pure model: no I/O.
 */
import { Either } from "effect"
import { InvalidUrl } from "./DiscoveryUrl.js"

export const DEFAULT_SERVICE = "http://127.0.0.1:8375/v1"

export interface TokenTarget {
  /** `http(s)://host[:port][/path]`, without a trailing slash: the first of `services`. */
  readonly service: string
  /** Every instance of the service, in the order given (one for the URL forms). */
  readonly services: ServiceList
  readonly token: string
}

/** One or more service base URLs, normalised. */
export type ServiceList = readonly [string, ...Array<string>]

export interface ParseOptions {
  /** `SWARM_TOKEN_URL`, used by the short form; may be a comma-separated list. */
  readonly defaultService?: string | undefined
  /** The discovery-opt `token.url`: wins over every other source; may be a comma-separated list. */
  readonly override?: string | undefined
}

// URL "unreserved" characters: a token goes into a path segment unescaped, the way clients always sent it.
const TOKEN = /^[A-Za-z0-9._~-]+$/

/** Checks a token: non-empty, at most 256 characters, only URL-safe characters (no `/`, `?`, `#`, spaces). */
export const validateToken = (token: string): string | undefined => {
  if (token === "") return "the token is missing (expected token://<token>)"
  if (token.length > 256) return "the token is longer than 256 characters"
  if (!TOKEN.test(token)) return "the token may hold only letters, digits, '.', '_', '~' and '-'"
  return undefined
}

/** Checks and normalises a service base URL; `source` names where it came from, for the message. */
export const normalizeService = (service: string, source: string): Either.Either<string, string> => {
  let url: URL
  try {
    url = new URL(service.trim())
  } catch {
    return Either.left(
      `${source} ${JSON.stringify(service)} is not a URL; expected http(s)://host[:port]/path`
    )
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return Either.left(`${source} ${JSON.stringify(service)} must start with http:// or https://`)
  }
  if (url.hostname === "") return Either.left(`${source} ${JSON.stringify(service)} has no host`)
  if (url.search !== "" || url.hash !== "" || url.username !== "" || url.password !== "") {
    return Either.left(`${source} ${JSON.stringify(service)} must not carry a query, fragment or credentials`)
  }
  return Either.right(`${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, "")}`)
}

/**
 * Checks a comma-separated list of service URLs (`token.url`, `SWARM_TOKEN_URL`, `swarm create --url`): each
 * element normalised, none empty, none twice. `source` names where the list came from, for the message.
 */
export const parseServices = (text: string, source: string): Either.Either<ServiceList, string> => {
  const parts = text.split(",")
  const several = parts.length > 1
  const services: Array<string> = []
  for (const [i, part] of parts.entries()) {
    const where = several ? `${source} (element ${i + 1} of ${JSON.stringify(text)})` : source
    if (part.trim() === "") {
      return Either.left(
        several
          ? `${where} is empty; expected http(s)://host[:port]/path, with commas only between URLs`
          : `${source} is empty; expected http(s)://host[:port]/path`
      )
    }
    const normalized = normalizeService(part, where)
    if (Either.isLeft(normalized)) return Either.left(normalized.left)
    if (services.includes(normalized.right)) {
      return Either.left(`${source} names ${normalized.right} twice in ${JSON.stringify(text)}`)
    }
    services.push(normalized.right)
  }
  return Either.right(services as unknown as ServiceList)
}

const EXPLICIT = /^(https?):\/\//i

/** Resolves the part of `token://…` after the scheme. */
export const parse = (rest: string, options: ParseOptions = {}): Either.Either<TokenTarget, InvalidUrl> => {
  const url = `token://${rest}`
  const fail = (reason: string) => Either.left(new InvalidUrl({ url, reason }))
  const text = rest.trim()
  const slash = text.lastIndexOf("/")
  let service: string
  let source: string
  let list = false
  const explicit = EXPLICIT.exec(text)
  if (explicit !== null) {
    // `http://host` alone has no token segment: its last slash is the scheme's.
    if (slash < explicit[0].length) {
      return fail(`expected token://${explicit[1]!.toLowerCase()}://host[:port]/path/<token>`)
    }
    service = text.slice(0, slash)
    source = "the service URL"
  } else if (slash >= 0) {
    if (slash === 0) return fail("expected token://<token> or token://host[:port]/path/<token>")
    service = `https://${text.slice(0, slash)}`
    source = "the service URL"
  } else {
    service = options.defaultService?.trim() || DEFAULT_SERVICE
    source = options.defaultService?.trim() ? "SWARM_TOKEN_URL" : "the default service URL"
    list = true
  }
  const token = text.slice(slash + 1)
  const bad = validateToken(token)
  if (bad !== undefined) return fail(bad)
  if (options.override !== undefined) {
    service = options.override
    source = "the discovery-opt token.url"
    list = true
  } else if (!list && service.includes(",")) {
    return fail(
      "a token:// URL names one service; give several instances with --discovery-opt token.url=URL1,URL2"
    )
  }
  const services: Either.Either<ServiceList, string> = list
    ? parseServices(service, source)
    : Either.map(normalizeService(service, source), (one): ServiceList => [one])
  return Either.match(services, {
    onLeft: fail,
    onRight: (services) => Either.right({ service: services[0], services, token })
  })
}
