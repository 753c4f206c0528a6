/**
 * The request handler's contract: what `Server.makeHandler` builds and `Listen.ts` serves. A leaf
 * of types beside the API codec, so the server's modules and the listener share them without
 * importing the composition root (`Server.ts`).
 */
import type { Effect } from "effect"
import type { KvError } from "../KvStore.js"
import type { Answer, RouteName } from "./Api.js"
import type { ServerConfig } from "./Config.js"
import type * as Failures from "./Failures.js"
import type * as Metrics from "./Metrics.js"
import type * as ReadToken from "./ReadToken.js"

/** One request in, its answer out; never fails. */
export type HandleRequest = (
  method: string,
  url: string,
  body: string,
  authorization?: string,
  client?: string
) => Effect.Effect<Answer>

export interface Handler {
  readonly config: ServerConfig
  readonly metrics: Metrics.Metrics
  /** Logs (rate-limited) and counts every 5xx; Listen reports its own through it too. */
  readonly failures: Failures.Failures
  /** The answer to a store failure, reported through `failures`; its body names no server detail. */
  readonly storeProblem: (route: RouteName, error: KvError) => Effect.Effect<Answer>
  /**
   * Decodes and answers one request; never fails. `authorization` is the header, for `/v1/admin/`;
   * `client` the client's address, for per-client bounds (tests may leave both out).
   */
  readonly handle: HandleRequest
  /** Like `handle`, but an answer with `pending` may arrive before its write is durable (see `whenDurable`). */
  readonly handleEarly: HandleRequest
  /**
   * A long-poll without a fiber when it can be (its cluster already has waiters): registers `deliver`
   * and returns a canceller for a client that hangs up. `undefined`: not such a request, use `handleEarly`.
   */
  readonly tryLongPoll: (
    url: string,
    client: string,
    deliver: (answer: Answer) => void
  ) => (() => void) | undefined
  /** Calls back once every write so far is durable; with the store's error if not. */
  readonly whenDurable: (callback: (error: KvError | undefined) => void) => void
  /** Answers every long-poll now, with the current state, and every later one at once (shutdown). */
  readonly drain: Effect.Effect<void>
  /**
   * What a token from a URL stands for: the cluster's own token and whether the given one is read-only
   * (the console accepts both). Expects the canonical lower-case form (`Api` lower-cases tokens).
   */
  readonly resolveToken: (token: string) => Effect.Effect<ReadToken.Resolved, KvError>
}
