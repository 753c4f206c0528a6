/**
 * `swarm create`: asks a token discovery service for a new cluster and prints
 * its token, alone, on stdout (so scripts can do `TOKEN=$(swarm create)`).
 * `swarm create --read-token <token>` prints that cluster's read-only token
 * instead (for monitors: it can list and watch, not register or delete).
 */
import { Command, Options } from "@effect/cli"
import { Console, Effect, Either, Option } from "effect"
import { DEFAULT_SERVICE } from "../TokenUrl.js"
import * as Common from "./Common.js"

const url = Options.text("url").pipe(
  Options.withPseudoName("url"),
  Options.withDescription("The token discovery service, for example https://discovery.example.com/v1."),
  Options.withFallbackConfig(Common.envVar("SWARM_TOKEN_URL")),
  Options.withDefault(DEFAULT_SERVICE)
)

const readToken = Options.text("read-token").pipe(
  Options.withPseudoName("token"),
  Options.withDescription(
    "Print the read-only token of an existing cluster instead of creating one: its token (on --url) or its token:// URL."
  ),
  Options.optional
)

export const command = Command.make(
  "create",
  { url, readToken, discoveryOpt: Common.discoveryOpt },
  ({ discoveryOpt, readToken, url }) =>
    Effect.gen(function* () {
      // Loaded on demand, like the discovery backends, so other commands start fast.
      const Token = yield* Effect.promise(() => import("../Discovery/Token.js"))
      const client = Token.clientOptions(Common.toRecord(discoveryOpt))
      if (Option.isNone(readToken)) return yield* Console.log(yield* Token.createCluster(url, client))
      const target = Token.resolveTarget(readToken.value, url)
      if (Either.isLeft(target)) {
        return yield* new Common.UsageError({
          command: "create",
          reason: `--read-token: ${target.left.message}`
        })
      }
      yield* Console.log(yield* Token.createReadToken(target.right, client))
    })
).pipe(
  Command.withDescription(
    "Create a cluster on a token discovery service and print its token; with --read-token, print an existing cluster's read-only token. Reads token.cacert, token.cert and token.key from --discovery-opt."
  )
)
