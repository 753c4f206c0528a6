/**
 * The routes that read a cluster: a list, and a long-poll (through the
 * fan-out of `LongPoll.ts`), with either the cluster's token or its
 * read-only one.
 */
import { Duration, Effect, Option } from "effect"
import { redactToken } from "../DiscoveryUrl.js"
import type { KvError, KvSnapshot, KvStoreShape } from "../KvStore.js"
import type * as Admission from "./Admission.js"
import * as Api from "./Api.js"
import type * as LongPoll from "./LongPoll.js"
import type * as ReadToken from "./ReadToken.js"
import { DEFAULT_WAIT, type ServerConfig } from "./Config.js"
import type { Answer } from "./Api.js"

export interface Deps {
  readonly store: KvStoreShape
  readonly config: ServerConfig
  readonly readTokens: ReadToken.ReadTokens
  readonly longPolls: LongPoll.LongPolls
  readonly admission: ReturnType<typeof Admission.make>
  readonly answerOf: (snapshot: KvSnapshot, route: Api.RouteName, cluster: string) => Answer
}

export const make = (deps: Deps) => {
  const { admission, answerOf, config, longPolls, readTokens, store } = deps

  const waitOf = (
    token: string,
    watched: string,
    index: number,
    waitMillis: Option.Option<number>,
    client: string
  ): LongPoll.Wait => ({
    token,
    watched,
    cluster: redactToken(token),
    index,
    waitMillis: Math.min(
      config.maxWait,
      Option.getOrElse(waitMillis, () => Duration.toMillis(DEFAULT_WAIT))
    ),
    client
  })

  const longPollBound = (client: string) =>
    admission.longPollBound(longPolls.size(), longPolls.sizeOf(client))

  const list = (token: string): Effect.Effect<Answer, KvError> => {
    const cluster = redactToken(token)
    // A read-only token's own prefix is always empty: only then is it worth a lookup.
    return Effect.flatMap(store.list(`${token}/`), (snapshot) =>
      snapshot.pairs.length > 0
        ? Effect.succeed(answerOf(snapshot, "list", cluster))
        : Effect.flatMap(readTokens.resolve(token), (resolved) =>
            resolved.readOnly
              ? Effect.map(store.list(`${resolved.cluster}/`), (s) => answerOf(s, "list", cluster))
              : Effect.succeed(answerOf(snapshot, "list", cluster))
          )
    )
  }

  const longPoll = (
    token: string,
    index: number,
    waitMillis: Option.Option<number>,
    client: string
  ): Effect.Effect<Answer, KvError> => {
    const bound = longPollBound(client)
    if (bound !== undefined) return admission.refuseLongPoll(bound, client)
    return Effect.flatMap(readTokens.resolve(token), (resolved) =>
      longPolls.wait(waitOf(token, resolved.cluster, index, waitMillis, client))
    )
  }

  /** The listener's fiber-free long-poll (see `Handler.tryLongPoll`). */
  const tryLongPoll = (url: string, client: string, deliver: (answer: Answer) => void) => {
    // Past a bound, the Effect path answers (and logs) the refusal.
    if (longPollBound(client) !== undefined) return undefined
    const request = Api.parse("GET", url, "")
    if (Api.isProblem(request) || request._tag !== "List" || Option.isNone(request.wait)) return undefined
    const { index, waitMillis } = request.wait.value
    return longPolls.tryWait(waitOf(request.token, request.token, index, waitMillis, client), deliver)
  }

  return { list, longPoll, tryLongPoll }
}
