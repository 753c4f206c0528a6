/**
 * The services @effect/cli requires (`FileSystem`, `Path`, `Terminal`), with
 * Node's `FileSystem` and `Terminal` loaded on first use rather than at start.
 *
 * Why: `swarm` uses neither on its usual paths (only @effect/cli's prompts
 * and file arguments do), yet building them at start loads node:crypto,
 * node:os, node:readline and process.stdin: about a tenth of the cold start.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Terminal from "@effect/platform/Terminal"
import * as NodePath from "@effect/platform-node/NodePath"
import { Effect, Layer, Scope, Sink, Stream } from "effect"

/** Runs `load` once, when first needed, and shares the result. */
const once = <A>(load: () => Promise<A>): Effect.Effect<A> => {
  let promise: Promise<A> | undefined
  return Effect.promise(() => (promise ??= load()))
}

const loadFileSystem = once(() =>
  import("@effect/platform-node/NodeFileSystem").then((m) =>
    Effect.runSync(Effect.provide(FileSystem.FileSystem, m.layer))
  )
)

const EFFECT_METHODS = [
  "access",
  "copy",
  "copyFile",
  "chmod",
  "chown",
  "exists",
  "link",
  "makeDirectory",
  "makeTempDirectory",
  "makeTempDirectoryScoped",
  "makeTempFile",
  "makeTempFileScoped",
  "open",
  "readDirectory",
  "readFile",
  "readFileString",
  "readLink",
  "realPath",
  "remove",
  "rename",
  "stat",
  "symlink",
  "truncate",
  "utimes",
  "writeFile",
  "writeFileString"
] as const

type AnyMethod = (...args: ReadonlyArray<unknown>) => unknown
const call = (fs: FileSystem.FileSystem, name: keyof FileSystem.FileSystem, args: ReadonlyArray<unknown>) =>
  (fs[name] as unknown as AnyMethod)(...args)

/** Node's `FileSystem`, imported when one of its methods first runs. */
export const lazyFileSystem: FileSystem.FileSystem = {
  ...Object.fromEntries(
    EFFECT_METHODS.map((name) => [
      name,
      (...args: ReadonlyArray<unknown>) =>
        Effect.flatMap(loadFileSystem, (fs) => call(fs, name, args) as Effect.Effect<unknown, unknown, never>)
    ])
  ),
  stream: (...args) => Stream.unwrap(Effect.map(loadFileSystem, (fs) => fs.stream(...args))),
  watch: (...args) => Stream.unwrap(Effect.map(loadFileSystem, (fs) => fs.watch(...args))),
  sink: (...args) => Sink.unwrap(Effect.map(loadFileSystem, (fs) => fs.sink(...args)))
} as FileSystem.FileSystem

// The terminal keeps its readline interface in a scope that lives as long as the process.
const loadTerminal = once(() =>
  import("@effect/platform-node/NodeTerminal").then((m) =>
    Effect.runPromise(Effect.flatMap(Scope.make(), (scope) => Scope.extend(m.make(), scope)))
  )
)

/** Node's `Terminal`, imported when a prompt first needs it. */
export const lazyTerminal: Terminal.Terminal = Terminal.Terminal.of({
  columns: Effect.flatMap(loadTerminal, (t) => t.columns),
  rows: Effect.flatMap(loadTerminal, (t) => t.rows),
  isTTY: Effect.flatMap(loadTerminal, (t) => t.isTTY),
  readInput: Effect.flatMap(loadTerminal, (t) => t.readInput),
  readLine: Effect.flatMap(loadTerminal, (t) => t.readLine),
  display: (text) => Effect.flatMap(loadTerminal, (t) => t.display(text))
})

export const layer = Layer.mergeAll(
  Layer.succeed(FileSystem.FileSystem, lazyFileSystem),
  Layer.succeed(Terminal.Terminal, lazyTerminal),
  NodePath.layer
)
