/**
 * The `swarm` executable. `swarm --version` answers before any other module
 * is evaluated (the bundle defers everything behind the dynamic import); the
 * rest runs in Cli/Run.ts.
 */

/** Inlined by scripts/build.mjs from package.json. */
declare const __SWARM_VERSION__: string | undefined
const version = typeof __SWARM_VERSION__ === "string" ? __SWARM_VERSION__ : "0.0.0-dev"

// `swarm watch | head -1`: a closed pipe is a normal way to stop reading.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(0)
  throw error
})

const args = process.argv.slice(2)
if (args.length === 1 && args[0] === "--version") {
  process.stdout.write(`${version}\n`)
} else {
  void import("./Cli/Run.js").then((m) => m.run(args, version))
}
