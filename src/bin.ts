/**
 * The `swarm` executable. SIGINT/SIGTERM interrupt `main` (join deregisters
 * on the way out) and end the process with 0; see Cli.exitCode for the rest.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Effect } from "effect"
import * as Cli from "./Cli/Cli.js"
import * as Platform from "./Cli/Platform.js"

/** Inlined by scripts/build.mjs from package.json. */
declare const __SWARM_VERSION__: string | undefined
const version = typeof __SWARM_VERSION__ === "string" ? __SWARM_VERSION__ : "0.0.0-dev"

// `swarm watch | head -1`: a closed pipe is a normal way to stop reading.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(0)
  throw error
})

Cli.main(process.argv.slice(2), { version }).pipe(
  Effect.provide(Platform.layer),
  NodeRuntime.runMain({ disableErrorReporting: true, disablePrettyLogger: true, teardown: Cli.teardown })
)
