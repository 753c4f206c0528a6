import { assert, describe, it } from "@effect/vitest"
import { Either } from "effect"
import * as Argv from "../../../src/Cli/compat/Argv.js"
import * as HelpModel from "../../../src/Cli/compat/HelpModel.js"
import * as Join from "../../../src/Cli/Join.js"
import * as List from "../../../src/Cli/List.js"

const specs = new Map([
  ["join", Argv.specOf(HelpModel.describeCommand(Join.command))],
  ["list", Argv.specOf(HelpModel.describeCommand(List.command))]
])

const ok = (args: ReadonlyArray<string>) => {
  const result = Argv.normalize(args, specs)
  if (Either.isLeft(result)) throw new Error(`expected success, got ${result.left.message}`)
  return result.right
}

const fail = (args: ReadonlyArray<string>) => {
  const result = Argv.normalize(args, specs)
  if (Either.isRight(result)) throw new Error(`expected an error, got ${JSON.stringify(result.right.args)}`)
  return result.left
}

describe("Argv.specOf", () => {
  it("reads value options, aliases and flags from a command's definition", () => {
    const join = specs.get("join")!
    for (const name of ["--advertise", "--addr", "--heartbeat", "--ttl", "--delay", "--discovery-opt"]) {
      assert.isTrue(join.valueOptions.has(name), name)
    }
    assert.isFalse(join.valueOptions.has("<discovery>"))
    assert.isFalse(join.valueOptions.has("join"))
    assert.isTrue(specs.get("list")!.valueOptions.has("--format"))
  })
})

describe("Argv.normalize", () => {
  it("splits --flag=value and puts options before positionals", () => {
    const { args, command } = ok(["join", "token://abc", "--advertise=10.0.0.1:2375", "--heartbeat", "5s"])
    assert.strictEqual(command, "join")
    assert.deepStrictEqual(args, ["join", "--advertise", "10.0.0.1:2375", "--heartbeat", "5s", "token://abc"])
  })

  it("keeps '=' inside a value (discovery-opt k=v)", () => {
    const { args } = ok(["join", "--discovery-opt=kv.path=a=b", "x:1"])
    assert.deepStrictEqual(args, ["join", "--discovery-opt", "kv.path=a=b", "x:1"])
  })

  it("rejects a value option at the end of the line instead of taking it as the URL", () => {
    const error = fail(["join", "--advertise", "10.0.0.1:2375", "--heartbeat"])
    assert.strictEqual(error.command, "join")
    assert.include(error.message, "--heartbeat needs a value")
  })

  it("rejects a value option followed by another option", () => {
    const error = fail(["join", "--heartbeat", "--advertise", "10.0.0.1:2375", "x:1"])
    assert.include(error.message, "--heartbeat needs a value")
  })

  it("accepts a value that starts with one dash, so the duration check can say what is wrong", () => {
    const { args } = ok(["join", "--delay", "-1s", "x:1"])
    assert.deepStrictEqual(args, ["join", "--delay", "-1s", "x:1"])
  })

  it("moves --log-level in front of the subcommand, in both spellings", () => {
    assert.deepStrictEqual(ok(["list", "x:1", "--log-level", "debug"]).args, [
      "--log-level",
      "debug",
      "list",
      "x:1"
    ])
    assert.deepStrictEqual(ok(["list", "--log-level=debug", "x:1"]).args, [
      "--log-level",
      "debug",
      "list",
      "x:1"
    ])
  })

  it("rewrites a subcommand's --help so that the usage names `swarm join`", () => {
    assert.deepStrictEqual(ok(["join", "--advertise", "a:1", "-h"]).args, ["--help", "join", "--help"])
    assert.deepStrictEqual(ok(["-h", "join"]).args, ["--help", "join", "--help"])
  })

  it("treats an empty command line as --help", () => {
    assert.deepStrictEqual(ok([]).args, ["--help"])
  })

  it("names an unknown subcommand and the known ones, with a guess when one is close", () => {
    const unknown = fail(["frobnicate", "--x"])
    assert.isUndefined(unknown.command)
    assert.strictEqual(unknown.message, 'unknown command "frobnicate"; the commands are join, list')
    assert.strictEqual(
      fail(["jion"]).message,
      `unknown command "jion" (did you mean 'join'?); the commands are join, list`
    )
  })

  it("checks the values of the built-ins --log-level and --completions, before or after the subcommand", () => {
    assert.strictEqual(
      fail(["--log-level", "loud", "list", "x:1"]).message,
      '--log-level: expected all, trace, debug, info, warning, error, fatal or none, got "loud"'
    )
    const after = fail(["list", "--log-level=loud", "x:1"])
    assert.strictEqual(after.command, "list")
    assert.include(after.message, 'got "loud"')
    assert.strictEqual(
      fail(["--completions", "powershell"]).message,
      '--completions: expected sh, bash, fish or zsh, got "powershell"'
    )
    assert.deepStrictEqual(ok(["--completions", "zsh"]).args, ["--completions", "zsh"])
  })

  it("names an unknown option, with a suggestion when one is close", () => {
    assert.include(
      fail(["list", "--frmat", "json", "x:1"]).message,
      "unknown option --frmat (did you mean --format?)"
    )
    assert.strictEqual(fail(["list", "--zzzzzz", "x:1"]).message, "unknown option --zzzzzz")
  })

  it("passes positionals after -- through, guarded by a -- of its own", () => {
    assert.deepStrictEqual(ok(["list", "--", "-odd"]).args, ["list", "--", "-odd"])
  })
})
