/**
 * The `swarm` executable. `swarm --version` answers before any other module
 * is evaluated (the bundle defers everything behind the dynamic import); the
 * rest runs in Cli/Run.ts.
 */
import { writeSync } from "node:fs"

/** Inlined by scripts/build.mjs from package.json. */
declare const __SWARM_VERSION__: string | undefined
const version = typeof __SWARM_VERSION__ === "string" ? __SWARM_VERSION__ : "0.0.0-dev"

const args = process.argv.slice(2)
if (args.length === 1 && args[0] === "--version") {
  // One write to fd 1: creating `process.stdout` (a stream over a pipe or tty) costs more than the rest.
  writeSync(1, `${version}\n`)
} else {
  void import("./Cli/Run.js").then((m) => m.run(args, version))
}
