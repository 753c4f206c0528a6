/**
 * An HTTP answer's body as text, at most a bound: the one way the token and
 * Consul clients read answers.
 *
 * Read whole with `text`: `response.stream` aborts the request once read,
 * which closes the kept-alive socket (a new connection per answer). The bound
 * holds three ways: a `Content-Length` over it is refused before reading,
 * the platform's `MaxBodySize` cuts a chunked answer off while it is read,
 * and a client that honours neither is checked once the body is read.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import type * as Headers from "@effect/platform/Headers"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as HttpIncomingMessage from "@effect/platform/HttpIncomingMessage"
import { Effect, Option } from "effect"

/** How an oversized body is reported: @effect/platform's node:http reader, and undici's `maxResponseSize`. */
export const isTooLarge = (error: HttpClientError.HttpClientError): boolean =>
  error.cause instanceof Error &&
  (error.cause.message === "maxBytes exceeded" ||
    (error.cause as NodeJS.ErrnoException).code === "UND_ERR_RES_EXCEEDED_MAX_SIZE")

/** `headers` is the response's, read once by the caller (each access copies them). */
export const read = <E>(
  response: HttpClientResponse.HttpClientResponse,
  headers: Headers.Headers,
  maxBytes: number,
  tooLarge: () => E
): Effect.Effect<string, E | HttpClientError.ResponseError> =>
  Number(headers["content-length"] ?? 0) > maxBytes
    ? Effect.fail(tooLarge())
    : response.text.pipe(
        HttpIncomingMessage.withMaxBodySize(Option.some(FileSystem.Size(maxBytes))),
        Effect.catchIf(isTooLarge, () => Effect.fail(tooLarge())),
        Effect.filterOrFail((body) => Buffer.byteLength(body) <= maxBytes, tooLarge)
      )
