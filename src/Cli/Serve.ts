/** STUB: `swarm serve`, to be written. */
import { Command } from "@effect/cli"
import { Effect } from "effect"

export const command = Command.make("serve", {}, () => Effect.dieMessage("swarm serve is not written yet"))
