/**
 * `swarm create`: asks a token discovery service for a new cluster and prints
 * its token, alone, on stdout (so scripts can do `TOKEN=$(swarm create)`).
 */
import { Command, Options } from "@effect/cli"
import { Console, Effect, HashMap, Option } from "effect"
import { DEFAULT_SERVICE } from "../TokenUrl.js"
import * as Common from "./Common.js"

const url = Options.text("url").pipe(
  Options.withPseudoName("url"),
  Options.withDescription("The token discovery service, for example https://discovery.example.com/v1."),
  Options.withFallbackConfig(Common.envVar("SWARM_TOKEN_URL")),
  Options.withDefault(DEFAULT_SERVICE)
)

export const command = Command.make(
  "create",
  { url, discoveryOpt: Common.discoveryOpt },
  ({ discoveryOpt, url }) =>
    Effect.gen(function* () {
      // Loaded on demand, like the discovery backends, so other commands start fast.
      const Token = yield* Effect.promise(() => import("../Discovery/Token.js"))
      const token = yield* Token.createCluster(url, {
        cacert: Option.getOrUndefined(HashMap.get(discoveryOpt, "token.cacert"))
      })
      yield* Console.log(token)
    })
).pipe(
  Command.withDescription(
    "Create a cluster on a token discovery service and print its token. Only token.cacert=/path/ca.pem is read from --discovery-opt."
  )
)
