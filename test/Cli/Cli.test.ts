import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Logger } from "effect"
import * as Cli from "../../src/Cli/Cli.js"
import * as Platform from "../../src/Cli/Platform.js"

/** Runs `swarm args` in-process, capturing stdout, stderr, logs and the exit code. */
const run = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  Effect.gen(function* () {
    const out: Array<string> = []
    const err: Array<string> = []
    const logs: Array<string> = []
    const exit = yield* Cli.main(args, {
      version: "9.8.7",
      out: { write: (t) => void out.push(t), colour: true },
      err: { write: (t) => void err.push(t), colour: true },
      logger: Logger.make(({ message }) => void logs.push(String(message)))
    }).pipe(
      Effect.provide(Platform.layer),
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))),
      Effect.exit
    )
    return { stdout: out.join(""), stderr: err.join(""), logs, code: Cli.exitCode(exit) }
  })

const ANSI = /\u001b\[/

describe("swarm (in-process)", () => {
  it.effect("--version prints the version alone", () =>
    Effect.gen(function* () {
      const result = yield* run(["--version"])
      assert.strictEqual(result.stdout, "9.8.7\n")
      assert.strictEqual(result.code, 0)
    })
  )

  it.effect("subcommand help names the full command, and the root help lists every subcommand", () =>
    Effect.gen(function* () {
      const join = yield* run(["join", "--help"])
      assert.strictEqual(join.code, 0)
      assert.include(join.stdout, "$ swarm join ")
      assert.include(join.stdout, "--advertise")
      const root = yield* run(["--help"])
      for (const command of ["join", "list", "watch", "create", "serve"]) assert.include(root.stdout, command)
      assert.include(root.stdout, "SWARM_DISCOVERY")
    })
  )

  it.effect("help has no colours when the output sink has colours off", () =>
    Effect.gen(function* () {
      const out: Array<string> = []
      yield* Cli.main(["list", "--help"], {
        version: "0",
        out: { write: (t) => void out.push(t), colour: false },
        err: { write: () => {}, colour: false }
      }).pipe(Effect.provide(Platform.layer))
      assert.include(out.join(""), "USAGE")
      assert.notMatch(out.join(""), ANSI)
    })
  )

  it.effect("a usage error prints one prefixed message and a help hint, exit 2", () =>
    Effect.gen(function* () {
      const result = yield* run(["join", "--advertise", "10.0.0.1:2375", "--heartbeat"])
      assert.strictEqual(result.code, 2)
      assert.strictEqual(
        result.stderr,
        "swarm join: option --heartbeat needs a value: --heartbeat VALUE or --heartbeat=VALUE\nRun 'swarm join --help' for usage.\n"
      )
      assert.strictEqual(result.stdout, "")
    })
  )

  it.effect("a parse error from @effect/cli gets the same shape, exit 2", () =>
    Effect.gen(function* () {
      const result = yield* run(["list", "--format", "xml", "a:1"])
      assert.strictEqual(result.code, 2)
      assert.match(result.stderr, /^swarm list: .*text, json\nRun 'swarm list --help' for usage.\n$/)
      assert.notMatch(result.stderr, ANSI)
    })
  )

  it.effect("an unknown subcommand is a usage error", () =>
    Effect.gen(function* () {
      const result = yield* run(["frobnicate"])
      assert.strictEqual(result.code, 2)
      assert.include(result.stderr, "swarm: ")
      assert.include(result.stderr, "'join'")
    })
  )

  it.effect("a validation error from a handler is exit 2; a runtime failure is exit 1", () =>
    Effect.gen(function* () {
      const usage = yield* run(["join", "--advertise", "10.0.0.1:2375", "--ttl", "30s", "a:1"])
      assert.strictEqual(usage.code, 2)
      assert.include(usage.stderr, "swarm join: --ttl (30s) must be greater than --heartbeat (1m0s)")
      const runtime = yield* run(["join", "--advertise", "10.0.0.1:2375", "nodes://a:1"])
      assert.strictEqual(runtime.code, 1)
      assert.include(runtime.stderr, "swarm join: the nodes discovery backend cannot register")
      assert.notInclude(runtime.stderr, "for usage")
    })
  )

  it.effect("list prints entries on stdout and nothing else there, from the arg or SWARM_DISCOVERY", () =>
    Effect.gen(function* () {
      const text = yield* run(["list", "nodes://10.0.0.[1:3]:2375"])
      assert.strictEqual(text.code, 0)
      assert.strictEqual(text.stdout, "10.0.0.1:2375\n10.0.0.2:2375\n10.0.0.3:2375\n")
      const json = yield* run(["list", "--format=json"], { SWARM_DISCOVERY: "b:2,a:1" })
      assert.deepStrictEqual(JSON.parse(json.stdout), ["a:1", "b:2"])
    })
  )
})
