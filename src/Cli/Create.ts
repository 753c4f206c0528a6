/**
 * `swarm create`: asks a token discovery service for a new cluster and prints
 * its token, alone, on stdout (so scripts can do `TOKEN=$(swarm create)`).
 */
import { Command, Options } from "@effect/cli"
import { Console, Effect, Option } from "effect"
import { DEFAULT_SERVICE } from "../TokenUrl.js"
import * as Common from "./Common.js"

const url = Options.text("url").pipe(
  Options.withPseudoName("url"),
  Options.withDescription(
    `The token discovery service, for example https://discovery.example.com/v1. Env: SWARM_TOKEN_URL. Default: ${DEFAULT_SERVICE}.`
  ),
  Options.optional
)

export const command = Command.make(
  "create",
  { url, discoveryOpt: Common.discoveryOpt },
  ({ discoveryOpt, url }) =>
    Effect.gen(function* () {
      const options = yield* Common.discoveryOptions("create", discoveryOpt)
      const service = Option.isSome(url)
        ? url.value
        : Option.getOrElse(yield* Common.env("SWARM_TOKEN_URL"), () => DEFAULT_SERVICE)
      // Loaded on demand, like the discovery backends, so other commands start fast.
      const Token = yield* Effect.promise(() => import("../Discovery/Token.js"))
      const token = yield* Token.createCluster(service, { cacert: options["token.cacert"] })
      yield* Console.log(token)
    })
).pipe(
  Command.withDescription(
    "Create a cluster on a token discovery service and print its token. Only token.cacert=/path/ca.pem is read from --discovery-opt."
  )
)
