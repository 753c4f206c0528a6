/**
 * Consul's answers: status checks and the JSON bodies, decoded with Schema.
 */
import { Effect, Either, ParseResult, Schema } from "effect"
import { KvError } from "../../KvStore.js"
import type { Reply } from "./client.js"
import { STORE } from "./endpoint.js"

/** 5xx ("No cluster leader", a proxy's 502) and 429 are Consul being unavailable, not a wrong answer. */
export const badResponse = (origin: string, reply: Reply, detail?: string, cause?: unknown): KvError =>
  new KvError({
    store: STORE,
    reason: reply.status >= 500 || reply.status === 429 ? "Unavailable" : "BadResponse",
    detail: `Consul at ${origin} answered ${reply.status} to ${reply.method} ${reply.path}: ${detail ?? (reply.body.trim().slice(0, 300) || "(empty body)")}`,
    ...(cause === undefined ? {} : { cause })
  })

export const expectStatus = (
  origin: string,
  reply: Reply,
  ok: ReadonlyArray<number>
): Effect.Effect<Reply, KvError> =>
  ok.includes(reply.status) ? Effect.succeed(reply) : Effect.fail(badResponse(origin, reply))

/** Decodes the JSON body of an answer with one of the `ok` statuses (200 unless told) with `schema`. */
export const decode = <A, I>(
  schema: Schema.Schema<A, I>,
  what: string,
  ok: ReadonlyArray<number> = [200]
) => {
  // Built once: a parser is compiled per schema, and a fresh `parseJson` per answer would recompile it.
  const parse = Schema.decodeUnknownEither(Schema.parseJson(schema))
  return (origin: string, reply: Reply): Effect.Effect<A, KvError> =>
    Effect.flatMap(expectStatus(origin, reply, ok), () =>
      Either.match(parse(reply.body), {
        onLeft: (error) =>
          Effect.fail(
            badResponse(
              origin,
              reply,
              `expected ${what}: ${ParseResult.TreeFormatter.formatErrorSync(error).slice(0, 200)}`,
              error
            )
          ),
        onRight: Effect.succeed
      })
    )
}

/** A KV entry as Consul answers it; the value is base64. */
const RawEntry = Schema.Struct({
  Key: Schema.String,
  Value: Schema.optional(Schema.NullOr(Schema.String)),
  Session: Schema.optional(Schema.String)
})

export interface Entry {
  readonly key: string
  readonly value: string
  readonly session: string | undefined
}

const entries = decode(Schema.Array(RawEntry), "a JSON array of KV entries")

export const decodeEntries = (origin: string, reply: Reply): Effect.Effect<ReadonlyArray<Entry>, KvError> =>
  Effect.map(entries(origin, reply), (raw) =>
    raw.map((e) => ({
      key: e.Key,
      value: typeof e.Value === "string" ? Buffer.from(e.Value, "base64").toString("utf8") : "",
      session: e.Session === undefined || e.Session === "" ? undefined : e.Session
    }))
  )

export const decodeKeys = decode(Schema.Array(Schema.String), "a JSON array of keys")

const sessionId = decode(Schema.Struct({ ID: Schema.NonEmptyString }), "a session ID")

export const decodeSessionId = (origin: string, reply: Reply): Effect.Effect<string, KvError> =>
  Effect.map(sessionId(origin, reply), (s) => s.ID)

/** A PUT/DELETE that answers `true` or `false`. */
export const decision = (origin: string, reply: Reply): Effect.Effect<boolean, KvError> =>
  Effect.flatMap(expectStatus(origin, reply, [200]), () => {
    const text = reply.body.trim()
    return text === "true" || text === "false"
      ? Effect.succeed(text === "true")
      : Effect.fail(badResponse(origin, reply, `expected true or false, got ${text.slice(0, 100)}`))
  })
