import { assert, describe, it } from "@effect/vitest"
import { Console, Effect } from "effect"
import * as Common from "../../../src/Cli/Common.js"
import * as CompatConsole from "../../../src/Cli/compat/Console.js"

const TOKEN = "0123456789abcdef0123456789abcdef"

describe("compat/Console", () => {
  it("strips ANSI colour codes", () => {
    assert.strictEqual(
      CompatConsole.stripAnsi("\u001b[0;1mUSAGE\u001b[0m and \u001b[31mred\u001b[39m"),
      "USAGE and red"
    )
  })

  it.effect("the console drops colours where they are off and reformats parse errors", () =>
    Effect.gen(function* () {
      const out: Array<string> = []
      const err: Array<string> = []
      const console = CompatConsole.make(
        yield* Effect.console,
        { write: (t) => void out.push(t), colour: false },
        { write: (t) => void err.push(t), colour: false },
        (text) => Common.formatError("join", text, true)
      )
      yield* Console.log("\u001b[1mhelp\u001b[0m\n").pipe(Effect.withConsole(console))
      yield* Console.error(`\u001b[1mbad ${TOKEN}\u001b[0m\n\n`).pipe(Effect.withConsole(console))
      assert.deepStrictEqual(out, ["help\n"])
      assert.strictEqual(err.join(""), "swarm join: bad 0123…\nRun 'swarm join --help' for usage.\n")
    })
  )
})
