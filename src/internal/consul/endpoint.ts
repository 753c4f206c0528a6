/**
 * Where Consul requests go, and how keys become request paths.
 */
import { Either } from "effect"
import { KvError } from "../../KvStore.js"
import type { TlsFiles } from "../tlsFiles.js"

export const STORE = "consul"
const DEFAULT_PORT = 8500

export interface Endpoint {
  /** `http(s)://host:port`, for requests and messages. */
  readonly origin: string
  /** A path prefix from the URL form, without a trailing slash (usually empty). */
  readonly basePath: string
  readonly secure: boolean
}

export const invalid = (detail: string, cause?: unknown): KvError =>
  new KvError({ store: STORE, reason: "Invalid", detail, ...(cause === undefined ? {} : { cause }) })

/** Resolves `host:port` or an `http(s)://` URL; TLS files imply https. */
export const resolve = (address: string, tls: TlsFiles | undefined): Either.Either<Endpoint, KvError> => {
  const trimmed = address.trim()
  const explicit = /^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed)
  const bad = (why: string, cause?: unknown) =>
    Either.left(invalid(`invalid Consul address ${JSON.stringify(address)}: ${why}`, cause))
  let url: URL
  try {
    url = new URL(explicit ? trimmed : `${tls ? "https" : "http"}://${trimmed}`)
  } catch (cause) {
    return bad("expected host:port or an http(s):// URL", cause)
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return bad("the scheme must be http or https")
  if (url.hostname === "" || url.search !== "" || url.hash !== "" || url.username !== "") {
    return bad("expected host:port or an http(s):// URL")
  }
  if (!explicit && url.pathname !== "/") return bad("expected host:port without a path")
  const secure = url.protocol === "https:"
  if (tls !== undefined && !secure) {
    return Either.left(
      invalid(
        `TLS files were given (kv.cacertfile/kv.certfile/kv.keyfile) but the Consul address ${address} is http://; use https://`
      )
    )
  }
  if (!explicit && url.port === "") url.port = String(DEFAULT_PORT)
  return Either.right({ origin: url.origin, basePath: url.pathname.replace(/\/+$/, ""), secure })
}

/** Consul keys never start with `/`. */
export const normalize = (key: string): string => key.replace(/^\/+/, "")

/** Each segment encoded: `:` and brackets travel as `%3A`, `%5B`, which Consul decodes back. */
export const kvPath = (key: string): string => `/v1/kv/${key.split("/").map(encodeURIComponent).join("/")}`
