/**
 * The manual and `--help` name the same flags: every option each command's help lists is in docs/cli.md (in that
 * command's section) or docs/server.md (`serve`), and every flag the manual names anywhere is one the program has,
 * or another program's, named here with that program. The help comes from the built CLI, as a user sees it.
 */
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { assert, beforeAll, describe, it } from "vitest"
import { runSwarm } from "../support/cli.js"

const root = fileURLToPath(new URL("../..", import.meta.url))
const read = (doc: string) => readFileSync(join(root, doc), "utf8")
const COMMANDS = ["join", "list", "watch", "create", "serve"] as const

/** Flags of other programs that the manual names, with whose they are. */
const FOREIGN: Readonly<Record<string, string>> = {
  "--save-dev": "npm install",
  "--cluster-store": "dockerd",
  "--system": "useradd",
  "--no-create-home": "useradd",
  "--now": "systemctl enable",
  "--client-cert-auth": "etcd",
  "--pre-vote": "etcd",
  "--auto-compaction-mode": "etcd",
  "--auto-compaction-retention": "etcd"
}

const FLAG = /(?<![\w-])--[a-z][a-z0-9-]*/g

/** The flags a help text lists under OPTIONS or GLOBAL OPTIONS: `  --advertise, --addr host:port` → both names. */
const helpFlags = (help: string): Array<string> => {
  const flags: Array<string> = []
  let inOptions = false
  for (const line of help.split("\n")) {
    if (/^[A-Z][A-Z ]+$/.test(line)) inOptions = /OPTIONS$/.test(line)
    else if (inOptions && /^ {2}-/.test(line)) flags.push(...(line.match(FLAG) ?? []))
  }
  return flags
}

/** A doc's `## ...` sections by heading. */
const sections = (text: string): Array<{ heading: string; body: string }> =>
  text.split(/^(?=## )/m).map((part) => ({ heading: part.split("\n")[0]!, body: part }))

const flagsIn = (text: string) => new Set(text.match(FLAG) ?? [])

const help: Record<string, Array<string>> = {}
let rootHelp = ""
beforeAll(async () => {
  for (const command of ["", ...COMMANDS]) {
    const result = await runSwarm(command === "" ? ["--help"] : [command, "--help"])
    assert.strictEqual(result.code, 0, result.stderr)
    help[command] = helpFlags(result.stdout)
    if (command === "") rootHelp = result.stdout
  }
})

describe("docs/cli.md and docs/server.md against --help", () => {
  it("the help lists options for every command (the test would prove nothing otherwise)", () => {
    for (const command of ["", ...COMMANDS])
      assert.isAtLeast(help[command]!.length, 2, `swarm ${command} --help`)
    assert.includeMembers(help[""]!, ["--help", "--version", "--log-level", "--completions"])
  })

  for (const command of ["join", "list", "watch", "create"] as const) {
    it(`every flag of \`swarm ${command} --help\` is in its section of docs/cli.md`, () => {
      const section = sections(read("docs/cli.md")).find((s) => s.heading.includes(`\`swarm ${command}\``))
      assert.isDefined(section, `docs/cli.md has no "## \`swarm ${command}\`" section`)
      const documented = flagsIn(section!.body)
      assert.deepStrictEqual(
        help[command]!.filter((f) => !documented.has(f)),
        [],
        `missing from docs/cli.md's swarm ${command} section`
      )
    })
  }

  it("every global option of `swarm --help` is in docs/cli.md", () => {
    const documented = flagsIn(read("docs/cli.md"))
    assert.deepStrictEqual(
      help[""]!.filter((f) => !documented.has(f)),
      []
    )
  })

  it("every flag of `swarm serve --help` is in docs/server.md", () => {
    const documented = flagsIn(read("docs/server.md"))
    assert.deepStrictEqual(
      help["serve"]!.filter((f) => !documented.has(f)),
      []
    )
  })

  it("a command's section of docs/cli.md names only that command's flags and the global ones", () => {
    const wrong: Array<string> = []
    for (const { heading, body } of sections(read("docs/cli.md"))) {
      const command = COMMANDS.find((c) => heading.includes(`\`swarm ${c}\``))
      if (command === undefined) continue
      for (const flag of flagsIn(body))
        if (!help[command]!.includes(flag) && !help[""]!.includes(flag)) wrong.push(`${heading}: ${flag}`)
    }
    assert.deepStrictEqual(wrong, [])
  })

  it("every flag README.md and docs/*.md name is the program's, or another program's named here", () => {
    const ours = new Set(Object.values(help).flat())
    const docs = [
      "README.md",
      ...readdirSync(join(root, "docs"))
        .filter((f) => f.endsWith(".md"))
        .map((f) => `docs/${f}`)
    ]
    const unknown = docs.flatMap((doc) =>
      [...flagsIn(read(doc))]
        .filter((f) => !ours.has(f) && FOREIGN[f] === undefined)
        .map((f) => `${doc}: ${f}`)
    )
    assert.deepStrictEqual(unknown, [])
  })

  it("SWARM_TOKEN_URL: the help and docs/cli.md both say it serves token://<token> as well as create --url", () => {
    const line = (text: string) => text.replace(/\s+/g, " ")
    const helpText = /SWARM_TOKEN_URL (.*?) SWARM_/.exec(line(rootHelp))?.[1] ?? ""
    assert.include(helpText, "create --url")
    assert.include(helpText, "token://<token>")
    const docRow = read("docs/cli.md")
      .split("\n")
      .find((l) => l.startsWith("| `SWARM_TOKEN_URL`"))
    assert.include(docRow, "token://<token>")
    assert.include(docRow, "create")
  })
})
