/**
 * The errors a `Discovery` backend can fail with. Each message tells a person
 * what went wrong and what to do; none carries a token in full.
 */
import { Data } from "effect"
import type { InvalidRange } from "./AddressRange.js"
import { redact, type InvalidUrl, type NotSupported } from "./DiscoveryUrl.js"
import type { InvalidEntry } from "./Entry.js"

export { InvalidEntry } from "./Entry.js"
export { InvalidUrl, NotSupported } from "./DiscoveryUrl.js"
export { InvalidRange } from "./AddressRange.js"

/** The backend cannot do this at all (for example `register` on `nodes://`). */
export class NotImplemented extends Data.TaggedError("NotImplemented")<{
  readonly backend: string
  readonly operation: string
  readonly hint?: string
}> {
  override get message(): string {
    return `the ${this.backend} discovery backend cannot ${this.operation}${this.hint ? `: ${this.hint}` : ""}`
  }
}

/** How each reason reads in a message. */
const UNAVAILABLE_WORDS = { Transport: "transport", Timeout: "timeout", FileSystem: "io" } as const

/** The backend could not be reached, or did not answer in time. */
export class Unavailable extends Data.TaggedError("Unavailable")<{
  readonly backend: string
  readonly target: string
  readonly reason: "Transport" | "Timeout" | "FileSystem"
  readonly detail: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `${this.backend} discovery at ${redact(this.target)} is unavailable (${UNAVAILABLE_WORDS[this.reason]}): ${redact(this.detail)}`
  }
}

/** The backend answered, but not with something we can use. */
export class BadResponse extends Data.TaggedError("BadResponse")<{
  readonly backend: string
  readonly target: string
  readonly reason: "StatusCode" | "Decode"
  readonly status?: number
  readonly detail: string
  readonly cause?: unknown
}> {
  override get message(): string {
    const status = this.status === undefined ? "" : ` with status ${this.status}`
    return `${this.backend} discovery at ${redact(this.target)} answered${status}: ${redact(this.detail)}`
  }
}

/**
 * The backend refused this client for good (HTTP 401/403, for example a
 * read-only token used to register): trying again cannot help.
 */
export class Forbidden extends Data.TaggedError("Forbidden")<{
  readonly backend: string
  readonly target: string
  readonly operation: string
  readonly status?: number
  readonly detail: string
}> {
  override get message(): string {
    const status = this.status === undefined ? "" : ` (status ${this.status})`
    return `${this.backend} discovery at ${redact(this.target)} refused ${this.operation}${status}: ${redact(this.detail)}`
  }
}

/** A `Discovery.layer`/`make` option that cannot work: a non-positive duration, or a ttl not above the heartbeat. */
export class InvalidOption extends Data.TaggedError("InvalidOption")<{
  readonly option: string
  readonly value: string
  readonly reason: string
}> {
  override get message(): string {
    return `invalid discovery option ${this.option} (${this.value}): ${this.reason}`
  }
}

export type DiscoveryError =
  | NotSupported
  | NotImplemented
  | InvalidUrl
  | InvalidEntry
  | InvalidRange
  | InvalidOption
  | Unavailable
  | BadResponse
  | Forbidden
  | MissingDriver

/**
 * A store driver is an optional peer dependency and is not installed: the
 * message names the package and the command that installs it.
 */
export class MissingDriver extends Data.TaggedError("MissingDriver")<{
  /** The npm package, e.g. `etcd3`. */
  readonly driver: string
  /** What needs it, e.g. `etcd://` or `the sqlite store`. */
  readonly backend: string
  /** The command that installs it, e.g. `npm install etcd3@1`. */
  readonly install: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `${this.backend} needs the ${this.driver} package, which is not installed: run \`${this.install}\``
  }
}
