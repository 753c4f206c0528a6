/**
 * Discovery URLs: `scheme://rest`. A string without `://` means `nodes`.
 * Tokens are capabilities, so every printed URL goes through `redact`.
 *
 * Pure model: no I/O.
 */
import { Data, Either } from "effect"

export const SCHEMES = ["token", "file", "nodes", "etcd", "zk", "consul", "memory"] as const
export type Scheme = (typeof SCHEMES)[number]

export interface DiscoveryUrl {
  readonly scheme: Scheme
  /** Everything after `scheme://`. */
  readonly rest: string
}

export class NotSupported extends Data.TaggedError("NotSupported")<{
  readonly scheme: string
}> {
  override get message(): string {
    return `discovery service not supported: ${JSON.stringify(this.scheme)} (use one of ${SCHEMES.join(", ")})`
  }
}

export class InvalidUrl extends Data.TaggedError("InvalidUrl")<{
  readonly url: string
  readonly reason: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `invalid discovery URL ${JSON.stringify(redact(this.url))}: ${this.reason}`
  }
}

const isScheme = (s: string): s is Scheme => (SCHEMES as ReadonlyArray<string>).includes(s)

export const parse = (url: string): Either.Either<DiscoveryUrl, NotSupported | InvalidUrl> => {
  const trimmed = url.trim()
  if (trimmed === "") return Either.left(new InvalidUrl({ url, reason: "it is empty" }))
  const at = trimmed.indexOf("://")
  if (at < 0) return Either.right({ scheme: "nodes", rest: trimmed })
  const scheme = trimmed.slice(0, at).toLowerCase()
  if (!isScheme(scheme)) return Either.left(new NotSupported({ scheme }))
  return Either.right({ scheme, rest: trimmed.slice(at + 3) })
}

export const format = (url: DiscoveryUrl): string => `${url.scheme}://${url.rest}`

const HEX_TOKEN = /\b([0-9a-fA-F]{4})[0-9a-fA-F]{28}\b/g

/** Hides a token: keeps its first four characters. */
export const redactToken = (token: string): string => (token.length <= 4 ? "…" : `${token.slice(0, 4)}…`)

/**
 * Hides every token in a string meant for people: the last path segment of a
 * `token://` URL, and any 32-hex-digit run (the Hub's token shape) elsewhere.
 */
export const redact = (text: string): string => {
  let out = text.replace(HEX_TOKEN, (_, head: string) => `${head}…`)
  // A token is URL-safe text; stopping there keeps prose such as "token://, etcd://" intact.
  out = out.replace(/(token:\/\/(?:[^\s/]*\/)*)([A-Za-z0-9._~%…-]+)/g, (_, head: string, token: string) =>
    token.endsWith("…") ? head + token : head + redactToken(token)
  )
  return out
}
