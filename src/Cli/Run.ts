/**
 * Runs `swarm` as the process: the Node runtime, signals and the exit code.
 * bin.ts imports this module only when it has more to do than print the version.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Effect } from "effect"
import * as Cli from "./Cli.js"
import * as Platform from "./compat/Platform.js"

/** SIGINT/SIGTERM interrupt `main` (join deregisters on the way out) and end with 0; see Cli.exitCode. */
export const run = (args: ReadonlyArray<string>, version: string): void => {
  Cli.main(args, { version }).pipe(
    Effect.provide(Platform.layer),
    NodeRuntime.runMain({ disableErrorReporting: true, disablePrettyLogger: true, teardown: Cli.teardown })
  )
}
