/**
 * The `token://` URL forms, resolved to a service base URL and a token:
 *
 * - `token://<token>`: the default service (`SWARM_TOKEN_URL`, else `http://127.0.0.1:8375/v1`);
 * - `token://host[:port]/path/<token>`: `https://host[:port]/path`, as Swarm classic did;
 * - `token://http://host:port/path/<token>` and `token://https://…`: explicit.
 *
 * The discovery-opt `token.url` replaces the service in every form.
 *
 * Pure model: no I/O.
 */
import { Either } from "effect"
import { InvalidUrl } from "./DiscoveryUrl.js"

export const DEFAULT_SERVICE = "http://127.0.0.1:8375/v1"

export interface TokenTarget {
  /** `http(s)://host[:port][/path]`, without a trailing slash. */
  readonly service: string
  readonly token: string
}

export interface ParseOptions {
  /** `SWARM_TOKEN_URL`, used by the short form. */
  readonly defaultService?: string | undefined
  /** The discovery-opt `token.url`: wins over every other source. */
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

const EXPLICIT = /^(https?):\/\//i

/** Resolves the part of `token://…` after the scheme. */
export const parse = (rest: string, options: ParseOptions = {}): Either.Either<TokenTarget, InvalidUrl> => {
  const url = `token://${rest}`
  const fail = (reason: string) => Either.left(new InvalidUrl({ url, reason }))
  const text = rest.trim()
  const slash = text.lastIndexOf("/")
  let service: string
  let source: string
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
  }
  const token = text.slice(slash + 1)
  const bad = validateToken(token)
  if (bad !== undefined) return fail(bad)
  if (options.override !== undefined) {
    service = options.override
    source = "the discovery-opt token.url"
  }
  return Either.match(normalizeService(service, source), {
    onLeft: fail,
    onRight: (normalized) => Either.right({ service: normalized, token })
  })
}
