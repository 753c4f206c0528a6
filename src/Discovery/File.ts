/**
 * `file:///path/to/cluster`: the entries are read from a file. One pattern per
 * line (ranges expand), `#` starts a comment (whole line or inline), blank
 * lines are ignored and whitespace is trimmed.
 *
 * The file is re-read every heartbeat, and sooner when the file system reports
 * a change in its directory (best effort: when that watch cannot start, the
 * heartbeat alone drives it). `watch` emits only when the set changes.
 *
 * Errors, by design:
 * - the first read failing (missing, unreadable, or a bad line) fails the
 *   stream, so `swarm list file:///missing` exits non-zero with the path in
 *   the message;
 * - once a read has succeeded, a later failure does not end the stream: it is
 *   logged as a warning naming the path (once per distinct error), the last
 *   good set stays current, and polling carries on, so the stream recovers by
 *   itself when the file is back. A watcher never dies because someone is
 *   half-way through editing the file.
 *
 * It cannot register: the file is edited by people or tools, not by `join`.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import { Duration, Effect, Either, Option, type Scope, Stream } from "effect"
import * as NodePath from "node:path"
import type { Backend, ResolvedOptions } from "./Backend.js"
import {
  type DiscoveryError,
  type InvalidEntry,
  type InvalidRange,
  InvalidUrl,
  NotImplemented,
  Unavailable
} from "../DiscoveryError.js"
import * as Entries from "../Entries.js"
import * as GoDuration from "../GoDuration.js"
import { parsePatterns } from "./Nodes.js"

/** Drops comments and surrounding whitespace from one line; `""` means "nothing here". */
export const stripLine = (line: string): string => {
  const hash = line.indexOf("#")
  return (hash < 0 ? line : line.slice(0, hash)).trim()
}

/** Parses a file's content. A bad line fails with the path, the line number and the line. */
export const parseContent = (
  path: string,
  content: string
): Either.Either<Entries.Entries, InvalidEntry | InvalidRange> =>
  parsePatterns(content.split(/\r?\n|\r/).map(stripLine), {
    where: (index) => `in ${path} line ${index + 1}`
  })

const describe = (error: unknown): string => {
  if (typeof error === "object" && error !== null && "_tag" in error && error._tag === "SystemError") {
    const reason = (error as { readonly reason?: string }).reason
    if (reason === "NotFound") return "no such file"
    if (reason === "PermissionDenied") return "permission denied"
  }
  const cause = (error as { readonly cause?: { readonly message?: unknown } } | undefined)?.cause
  if (cause !== undefined && typeof cause.message === "string") return cause.message
  return error instanceof Error ? error.message : String(error)
}

const unavailable = (path: string, error: unknown) =>
  new Unavailable({
    backend: "file",
    target: path,
    reason: "FileSystem",
    detail: `cannot read ${path}: ${describe(error)}`,
    cause: error
  })

const HINT =
  "file:// is a static list edited by hand; use token://, etcd://, zk://, consul:// or memory:// to register"

/** The backend over the `FileSystem` in the context (tests provide a fake). */
export const makeWith = (
  path: string,
  options: ResolvedOptions
): Effect.Effect<Backend, DiscoveryError, FileSystem.FileSystem | Scope.Scope> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const heartbeat = options.heartbeat

    const read: Effect.Effect<Entries.Entries, DiscoveryError> = fs.readFileString(path).pipe(
      Effect.mapError((error) => unavailable(path, error)),
      Effect.flatMap((content) => parseContent(path, content))
    )

    // Changes in the file's directory (editors often replace the file, which a
    // watch on the file itself would miss). Any failure: rely on the heartbeat.
    const absolute = NodePath.resolve(path)
    const base = NodePath.basename(absolute)
    const onDisk: Stream.Stream<void> = fs.watch(NodePath.dirname(absolute)).pipe(
      Stream.filter((event) => NodePath.basename(event.path) === base),
      Stream.as(undefined as void),
      Stream.catchAll((error) =>
        Stream.fromEffect(
          Effect.logDebug(`not watching ${path} for changes (${describe(error)}); polling every heartbeat`)
        ).pipe(Stream.drain)
      ),
      // An editor's save is several events; read once they settle.
      Stream.debounce(Duration.millis(50))
    )

    interface State {
      readonly current: Option.Option<Entries.Entries>
      /** The message of the error being reported, so each distinct one is logged once. */
      readonly failing: Option.Option<string>
    }
    const initial: State = { current: Option.none(), failing: Option.none() }

    const step = (
      state: State,
      result: Either.Either<Entries.Entries, DiscoveryError>
    ): Effect.Effect<readonly [State, Option.Option<Entries.Entries>], DiscoveryError> =>
      Either.match(result, {
        onLeft: (error) =>
          Option.match(state.current, {
            // Nothing read yet: there is nothing to carry on with.
            onNone: () => Effect.fail(error),
            onSome: () =>
              Option.contains(state.failing, error.message)
                ? Effect.succeed([state, Option.none()] as const)
                : Effect.logWarning(
                    `${error.message}; keeping the last entries read and trying again every ${GoDuration.format(heartbeat)}`
                  ).pipe(
                    Effect.as([{ ...state, failing: Option.some(error.message) }, Option.none()] as const)
                  )
          }),
        onRight: (entries) => {
          const recovered = Option.isSome(state.failing)
            ? Effect.logInfo(`${path} is readable again`)
            : Effect.void
          const changed = Option.match(state.current, {
            onNone: () => true,
            onSome: (previous) => !Entries.equals(previous, entries)
          })
          const next: State = {
            current: changed ? Option.some(entries) : state.current,
            failing: Option.none()
          }
          return Effect.as(recovered, [next, changed ? Option.some(entries) : Option.none()] as const)
        }
      })

    const watch: Stream.Stream<Entries.Entries, DiscoveryError> = Stream.merge(
      Stream.tick(heartbeat),
      onDisk
    ).pipe(
      Stream.mapEffect(() => Effect.either(read)),
      Stream.mapAccumEffect(initial, step),
      Stream.filterMap((emit) => emit)
    )

    return {
      register: () => Effect.fail(new NotImplemented({ backend: "file", operation: "register", hint: HINT })),
      deregister: () =>
        Effect.fail(new NotImplemented({ backend: "file", operation: "deregister", hint: HINT })),
      watch,
      readOnly: true
    }
  })

/**
 * `rest` is the path: `file:///etc/swarm/cluster` gives `/etc/swarm/cluster`.
 * Reads through the `FileSystem` in the context, or Node's when there is none.
 */
export const make = (
  rest: string,
  options: ResolvedOptions
): Effect.Effect<Backend, DiscoveryError, Scope.Scope> =>
  rest.trim() === ""
    ? Effect.fail(
        new InvalidUrl({
          url: `file://${rest}`,
          reason: "expected a path, for example file:///etc/swarm/cluster"
        })
      )
    : Effect.flatMap(Effect.serviceOption(FileSystem.FileSystem), (provided) =>
        Option.match(provided, {
          onSome: (fs) => makeWith(rest, options).pipe(Effect.provideService(FileSystem.FileSystem, fs)),
          // Loaded on demand: only file:// needs Node's file system.
          onNone: () =>
            Effect.promise(() => import("@effect/platform-node/NodeFileSystem")).pipe(
              Effect.flatMap((NodeFileSystem) =>
                makeWith(rest, options).pipe(Effect.provide(NodeFileSystem.layer))
              )
            )
        })
      )
