// The manual's TypeScript: every ```ts block of README.md and docs/*.md is compiled (strict, as our own sources),
// and the blocks that are tests (they import @effect/vitest) run here too. Imports of "swarm-discovery" point at src/.
import { assert, it } from "@effect/vitest"
import { Effect, Fiber, Stream, TestClock } from "effect"
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import ts from "typescript"
import { describe } from "vitest"
import { Discovery, Entry, Join } from "../src/index.js"
import { fencedBlocks } from "./support/markdown.js"

const root = path.resolve(import.meta.dirname, "..")
const outDir = path.join(root, "test", ".doc-blocks")

interface Block {
  readonly doc: string // relative to the repo
  readonly line: number // of the opening fence
  readonly file: string // the generated .ts file
  readonly isTest: boolean
}

const docs = [
  "README.md",
  ...readdirSync(path.join(root, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => `docs/${f}`)
]

/** "swarm-discovery" → src/index.js, "swarm-discovery/KvStore/Etcd" → src/KvStore/Etcd.js, relative to `dir`. */
const pointAtSources = (source: string, dir: string) =>
  source.replace(/from "swarm-discovery(\/[^"]*)?"/g, (_, sub: string | undefined) => {
    const target = path.join(root, "src", sub === undefined ? "index.js" : `${sub.slice(1)}.js`)
    return `from "${path.relative(dir, target)}"`
  })

const extract = (): ReadonlyArray<Block> => {
  rmSync(outDir, { recursive: true, force: true })
  mkdirSync(outDir, { recursive: true })
  const blocks: Array<Block> = []
  for (const doc of docs) {
    for (const { lang, line, body: source } of fencedBlocks(path.join(root, doc))) {
      if (lang !== "ts" && lang !== "typescript") continue
      const name = `${doc.replace(/[/.]/g, "_")}_${line}.ts`
      const file = path.join(outDir, name)
      // Each block is a module of its own: `export {}` keeps top-level names from clashing across blocks.
      writeFileSync(file, `${pointAtSources(source, outDir)}\nexport {}\n`)
      blocks.push({ doc, line, file, isTest: source.includes(`from "@effect/vitest"`) })
    }
  }
  return blocks
}

const blocks = extract()

it("the manual has TypeScript blocks, in the README and in docs/", () => {
  assert.isTrue(blocks.some((b) => b.doc === "README.md"))
  assert.isTrue(blocks.some((b) => b.doc.startsWith("docs/")))
})

it("every TypeScript block of README.md and docs/*.md compiles", () => {
  const config = ts.getParsedCommandLineOfConfigFile(
    path.join(root, "tsconfig.json"),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) =>
        assert.fail(ts.flattenDiagnosticMessageText(d.messageText, "\n"))
    }
  )!
  const program = ts.createProgram(
    // The ambient declarations our sources rely on (untyped store drivers) come along.
    [...blocks.map((b) => b.file), ...config.fileNames.filter((f) => f.endsWith(".d.ts"))],
    { ...config.options, noEmit: true }
  )
  const byFile = new Map(blocks.map((b) => [path.resolve(b.file), b]))
  const problems = ts.getPreEmitDiagnostics(program).map((d) => {
    const text = ts.flattenDiagnosticMessageText(d.messageText, "\n")
    const block = d.file === undefined ? undefined : byFile.get(path.resolve(d.file.fileName))
    if (d.file === undefined || block === undefined) return text
    const { line } = d.file.getLineAndCharacterOfPosition(d.start ?? 0)
    return `${block.doc}:${block.line + 1 + line}: ${text}`
  })
  assert.deepStrictEqual(problems, [])
}, 120_000)

// The blocks that are tests run as they are written.
describe("the manual's tests", async () => {
  for (const block of blocks.filter((b) => b.isTest)) {
    describe(`${block.doc}:${block.line}`, async () => {
      await import(pathToFileURL(block.file).href)
    })
  }
})

// The README's program ends in NodeRuntime.runMain, so it cannot run as written: this is the same program, provided
// the same way (the layer on the whole program), under TestClock.
it.scoped("the README's join-and-watch program sees its own node", () =>
  Effect.gen(function* () {
    const me = Entry.make("10.0.0.1", 2375)
    const program = Effect.gen(function* () {
      const discovery = yield* Discovery.Discovery
      yield* Effect.forkScoped(Join.join(me, { heartbeat: "10 seconds" }))
      return yield* Discovery.changes(discovery.watch).pipe(Stream.take(1), Stream.runCollect)
    })
    const fiber = yield* program.pipe(
      Effect.scoped,
      Effect.provide(Discovery.layer("memory://readme-join", { heartbeat: "10 seconds", ttl: "30 seconds" })),
      Effect.fork
    )
    yield* TestClock.adjust("1 second")
    const [first] = yield* Fiber.join(fiber)
    assert.deepStrictEqual(first?.added.map(Entry.format), [Entry.format(me)])
  })
)
