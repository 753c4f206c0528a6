/**
 * TLS files named by discovery-opts (`kv.cacertfile`, `kv.certfile`, `kv.keyfile`):
 * the one place that reads them and checks they make sense together.
 */
import { Data, Effect } from "effect"
// fs.promises loads on first use: a CLI start that reads no TLS file does not pay for node:fs/promises.
import { promises as fs } from "node:fs"
import type { TlsFiles } from "../KvStore.js"

export type { TlsFiles } from "../KvStore.js"

export interface TlsPem {
  readonly ca?: Buffer
  readonly cert?: Buffer
  readonly key?: Buffer
}

/** A TLS file that cannot be read, or a certificate without its key. */
export class TlsFileError extends Data.TaggedError("TlsFileError")<{
  readonly detail: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return this.detail
  }
}

export const OPTION = { ca: "kv.cacertfile", cert: "kv.certfile", key: "kv.keyfile" } as const

/** The TLS files among discovery-opts, or `undefined` when none is given. */
export const fromOptions = (options: Readonly<Record<string, string>>): TlsFiles | undefined => {
  const ca = options[OPTION.ca]
  const cert = options[OPTION.cert]
  const key = options[OPTION.key]
  if (ca === undefined && cert === undefined && key === undefined) return undefined
  return { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) }
}

/** One line for an error message: the cause without stack or line breaks. */
export const describe = (cause: unknown): string =>
  cause instanceof Error ? cause.message.replace(/\s+/g, " ").trim() : String(cause)

const readOne = (option: string, path: string | undefined) =>
  path === undefined
    ? Effect.succeed(undefined)
    : Effect.tryPromise({
        try: () => fs.readFile(path),
        catch: (cause) =>
          new TlsFileError({ detail: `cannot read ${option} ${path}: ${describe(cause)}`, cause })
      })

/** Reads the files; a certificate needs its key and the other way round. */
export const read = (files: TlsFiles): Effect.Effect<TlsPem, TlsFileError> =>
  Effect.gen(function* () {
    if ((files.cert === undefined) !== (files.key === undefined)) {
      return yield* new TlsFileError({
        detail: `${OPTION.cert} and ${OPTION.key} go together: give both for client certificates, or neither`
      })
    }
    const ca = yield* readOne(OPTION.ca, files.ca)
    const cert = yield* readOne(OPTION.cert, files.cert)
    const key = yield* readOne(OPTION.key, files.key)
    return { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) }
  })
