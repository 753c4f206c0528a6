/**
 * docs/server.md's certificate recipe, as written: its openssl commands run verbatim in an empty temp dir, then its
 * `swarm serve --tlsverify`, `create`, `join` and `list` lines run against the files they made, with two changes a
 * test needs: a free loopback port in place of 8375 (`--listen` added to serve), and `swarm` is the built CLI.
 * A list without the client certificate must be refused.
 */
import { execFile } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, assert, describe, it } from "vitest"
import { runSwarm, spawnSwarm, stopAll } from "../support/cli.js"
import { gates } from "../support/gate.js"
import { fencedBlocks } from "../support/markdown.js"
import { freePort } from "../support/net.js"

const SERVER_MD = fileURLToPath(new URL("../../docs/server.md", import.meta.url))
const haveOpenssl = gates.openssl()

const blocks = fencedBlocks(SERVER_MD).filter((b) => b.lang === "sh")
const lines = (body: string) =>
  body
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"))
const recipe = blocks.find((b) => /^openssl req -x509/m.test(b.body))
const usage = blocks.find((b) => /--tlsverify/.test(b.body) && /token\.cert=/.test(b.body))

const dir = mkdtempSync(join(tmpdir(), `swarm-tls-recipe-${process.pid}-`))
afterAll(async () => {
  await stopAll()
  rmSync(dir, { recursive: true, force: true })
})

/** A documented `swarm ...` line as argv: the command's words, `$TOKEN` filled in, 8375 replaced by `port`. */
const argv = (line: string, port: number, token = "") => {
  assert.notMatch(line, /["'\\]/, `the test splits on spaces: keep quotes out of ${line}`)
  const words = line
    .replace(/^TOKEN=\$\((.*)\)$/, "$1")
    .replace(/\$TOKEN/g, token)
    .replace(/:8375\b/g, `:${port}`)
    .split(/\s+/)
  assert.strictEqual(words[0], "swarm", line)
  return words.slice(1)
}

describe.skipIf(!haveOpenssl)("docs/server.md: the private CA recipe and mutual TLS", () => {
  it("the recipe and the commands are in the docs", () => {
    assert.isDefined(recipe, "no ```sh block starting with openssl req -x509 in docs/server.md")
    assert.isDefined(usage, "no ```sh block with serve --tlsverify and token.cert in docs/server.md")
  })

  it("openssl makes the files; serve --tlsverify; create, join and list with a client certificate", async () => {
    const made = await new Promise<{ code: number | null; stderr: string }>((resolve) =>
      execFile("sh", ["-ec", recipe!.body], { cwd: dir, timeout: 60_000 }, (error, _out, stderr) =>
        resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : null, stderr })
      )
    )
    assert.strictEqual(made.code, 0, made.stderr)

    const [serveLine, createLine, joinLine, listLine] = lines(usage!.body)
    const port = await freePort()
    const inDir = { cwd: dir }
    const server = spawnSwarm([...argv(serveLine!, port), "--listen", `127.0.0.1:${port}`], inDir)
    await server.waitForLine("stderr", `127.0.0.1:${port}`, { timeoutMs: 20_000 })

    const created = await runSwarm(argv(createLine!, port), inDir)
    assert.strictEqual(created.code, 0, created.stderr)
    const token = created.stdout.trim()
    assert.match(token, /^[0-9a-f]{32}$/)

    const join = spawnSwarm(argv(joinLine!, port, token), { ...inDir, env: { SWARM_LOG_LEVEL: "debug" } })
    const advertised = /--advertise (\S+)/.exec(joinLine!)![1]!
    await join.waitForLine("stderr", `registered ${advertised}`, { timeoutMs: 20_000 })

    const listed = await runSwarm(argv(listLine!, port, token), inDir)
    assert.strictEqual(listed.code, 0, listed.stderr)
    assert.deepStrictEqual(listed.stdout.trim().split("\n"), [advertised])

    // Without the client certificate the server refuses, and the error says what to add.
    const without = argv(listLine!, port, token).filter(
      (w, i, all) =>
        !/^token\.(cert|key)=/.test(w) &&
        !(w === "--discovery-opt" && /^token\.(cert|key)=/.test(all[i + 1]!))
    )
    assert.notInclude(without.join(" "), "token.cert")
    const refused = await runSwarm(without, inDir)
    assert.strictEqual(refused.code, 1, refused.stdout + refused.stderr)
    assert.include(refused.stderr, "token.cert")

    join.kill("SIGTERM")
    await join.exited
    server.kill("SIGTERM")
    await server.exited
  }, 90_000)
})
