/** STUB: `swarm create`, to be written. */
import { Command } from "@effect/cli"
import { Effect } from "effect"

export const command = Command.make("create", {}, () => Effect.dieMessage("swarm create is not written yet"))
