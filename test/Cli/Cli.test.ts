import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Logger } from "effect"
import * as Cli from "../../src/Cli/Cli.js"
import * as Platform from "../../src/Cli/compat/Platform.js"

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
      assert.include(join.stdout, "swarm join --advertise host:port [options] <discovery>")
      assert.include(join.stdout, "--advertise, --addr host:port")
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
      assert.strictEqual(
        result.stderr,
        `swarm list: --format: expected text or json, got "xml"\nRun 'swarm list --help' for usage.\n`
      )
      assert.notMatch(result.stderr, ANSI)
    })
  )

  it.effect(
    "an unknown subcommand is a usage error naming the commands, with a guess when one is close",
    () =>
      Effect.gen(function* () {
        const result = yield* run(["frobnicate"])
        assert.strictEqual(result.code, 2)
        assert.strictEqual(
          result.stderr.split("\n")[0],
          'swarm: unknown command "frobnicate"; the commands are join, list, watch, create, serve'
        )
        const typo = yield* run(["lst", "a:1"])
        assert.strictEqual(typo.code, 2)
        assert.include(typo.stderr, `swarm: unknown command "lst" (did you mean 'list'?)`)
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

  /** stderr's first line, for an exit-2 run: the one message. */
  const usageError = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
    Effect.map(run(args, env), (result) => {
      assert.strictEqual(result.code, 2, result.stderr)
      assert.strictEqual(result.stdout, "")
      return result.stderr.split("\n")[0]!
    })

  it.effect("flag values are checked by the options themselves, one clear message each (exit 2)", () =>
    Effect.gen(function* () {
      const join = ["join", "--advertise", "10.0.0.1:2375"]
      const cases: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
        [
          [...join, "--heartbeat", "999ms", "memory://x"],
          "swarm join: --heartbeat: must be at least 1s, got 999ms"
        ],
        [[...join, "--delay", "-1s", "memory://x"], "swarm join: --delay: invalid duration"],
        [[...join, "--ttl", "3x", "memory://x"], 'swarm join: --ttl: invalid duration "3x"'],
        [["join", "--advertise", "10.0.0.1", "memory://x"], "swarm join: --advertise: invalid address"],
        [["join", "--addr", "10.0.0.1:0", "memory://x"], "out of range"],
        [["list", "--timeout", "0s", "a:1"], "swarm list: --timeout: must be greater than 0s, got 0s"],
        [["watch", "--heartbeat", "0s", "a:1"], "swarm watch: --heartbeat: must be at least 1s, got 0s"],
        [["serve", "--min-ttl", "0s"], "swarm serve: --min-ttl: must be greater than 0s, got 0s"],
        [["serve", "--max-ttl", "soon"], "swarm serve: --max-ttl: invalid duration"],
        [["list", "--discovery-opt", "novalue", "a:1"], "swarm list: "],
        [["list", "bogus://x"], "swarm list: discovery service not supported"]
      ]
      for (const [args, message] of cases) assert.include(yield* usageError(args), message, args.join(" "))
    })
  )

  it.effect("env vars fall back for flags and the URL, and a bad one is exit 2", () =>
    Effect.gen(function* () {
      const env = { SWARM_ADVERTISE: " [2001:db8::1]:2376 ", SWARM_DISCOVERY: "nodes://a:1" }
      // nodes:// cannot register: a run-time failure, after both values were taken from the env.
      const joined = yield* run(["join"], env)
      assert.strictEqual(joined.code, 1)
      assert.include(joined.stderr, "cannot register")
      assert.include(
        yield* usageError(["join", "memory://x"], { SWARM_ADVERTISE: "nope" }),
        'swarm join: SWARM_ADVERTISE: invalid address "nope"'
      )
      assert.include(yield* usageError(["list"], { SWARM_DISCOVERY: "bogus://x" }), "not supported")
      assert.include(yield* usageError(["list"]), "SWARM_DISCOVERY")
      const listed = yield* run(["list", "nodes://c:3"], { SWARM_DISCOVERY: "nodes://a:1" })
      assert.strictEqual(listed.stdout, "c:3\n", "the argument wins over the env var")
    })
  )

  it.effect("a reversed range or bad address in the URL is a typing mistake: exit 2", () =>
    Effect.gen(function* () {
      assert.match(yield* usageError(["list", "nodes://10.0.0.[5:1]:2375"]), /^swarm list: .*\[5:1\]/)
      assert.match(yield* usageError(["list", "nodes://10.0.0.1:0"]), /^swarm list: .*port 0/)
    })
  )

  it.effect("--discovery-opt pairs reach the backend; a later repeat of a key wins", () =>
    Effect.gen(function* () {
      // kv.path only changes where the memory backend keeps entries: join with one, list with the other.
      const result = yield* run([
        "list",
        "--discovery-opt",
        "kv.path=a",
        "--discovery-opt=kv.path=b",
        "--timeout",
        "1s",
        "nodes://10.0.0.1:1"
      ])
      assert.strictEqual(result.code, 0, result.stderr)
      assert.strictEqual(result.stdout, "10.0.0.1:1\n")
    })
  )
})
