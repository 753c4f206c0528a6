// The bundled `swarm` as the package installs it, outside this repo: no store driver installed (the optional peers),
// and no code cache shipped. Each command that needs a driver exits 1 with the install command, the rest work, and
// the code cache goes to the user's cache directory, never into the package folder.
import { execFile } from "node:child_process"
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync
} from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, assert, describe, it } from "vitest"

const dist = fileURLToPath(new URL("../../dist", import.meta.url))
const dir = mkdtempSync(join(tmpdir(), "swarm-nodrivers-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const cacheDir = join(dir, "cache", "swarm-discovery")
const pkg = join(dir, "pkg")
mkdirSync(pkg)
for (const file of ["swarm.cjs", "swarm-main.cjs"]) copyFileSync(join(dist, file), join(pkg, file))

const swarm = (...args: Array<string>) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const env = {
      ...process.env,
      HOME: dir,
      XDG_CACHE_HOME: join(dir, "cache"),
      XDG_STATE_HOME: join(dir, "state")
    }
    execFile(
      process.execPath,
      [join(pkg, "swarm.cjs"), ...args],
      { cwd: dir, env, timeout: 20_000 },
      (error, stdout, stderr) =>
        resolve({
          code: error === null ? 0 : typeof error.code === "number" ? error.code : null,
          stdout,
          stderr
        })
    )
  })

describe("the bundled CLI without store drivers", () => {
  it("finds no driver from its folder (the test would prove nothing otherwise)", () => {
    assert.isFalse(readdirSync(pkg).includes("node_modules"))
    for (let up = pkg; up !== join(up, ".."); up = join(up, ".."))
      assert.isFalse(existsSync(join(up, "node_modules", "etcd3")), up)
  })

  for (const [args, install] of [
    [["list", "etcd://127.0.0.1:1/x"], "npm install etcd3@1"],
    [["list", "zk://127.0.0.1:1/x"], "npm install node-zookeeper-client@1"],
    [["serve", "--listen", "127.0.0.1:0", "--data-dir", join(dir, "data")], "npm install better-sqlite3@12"],
    [["serve", "--listen", "127.0.0.1:0", "--store", "etcd://127.0.0.1:1/p"], "npm install etcd3@1"]
  ] as const) {
    it(`swarm ${args.join(" ")} names \`${install}\` and exits 1`, async () => {
      const result = await swarm(...args)
      assert.strictEqual(result.code, 1, result.stderr)
      assert.include(
        result.stderr,
        `needs the ${install.split(" ")[2]!.split("@")[0]} package, which is not installed`
      )
      assert.include(result.stderr, `\`${install}\``)
      assert.notInclude(result.stderr, "internal error")
    })
  }

  it("commands that need no driver work", async () => {
    const result = await swarm("list", "nodes://10.0.0.[1:2]:2375")
    assert.strictEqual(result.code, 0, result.stderr)
    assert.deepStrictEqual(result.stdout.trim().split("\n"), ["10.0.0.1:2375", "10.0.0.2:2375"])
  })

  it("keeps its code cache in the user's cache directory, keyed by Node version, and uses it when it fits", async () => {
    assert.deepStrictEqual(
      readdirSync(pkg).sort(),
      ["swarm-main.cjs", "swarm.cjs"],
      "nothing written into the package"
    )
    const caches = readdirSync(cacheDir)
    assert.strictEqual(caches.length, 1, caches.join(" "))
    const cache = join(cacheDir, caches[0]!)
    assert.match(
      caches[0]!,
      new RegExp(
        `^swarm-main\\.[0-9a-f]{16}\\.${process.version.replace(/\./g, "\\.")}-${process.arch}(-[0-9a-f]{8})?\\.v8$`
      )
    )
    // A cache that fits is read, not rewritten.
    const before = statSync(cache).mtimeMs
    assert.strictEqual((await swarm("list", "nodes://10.0.0.1:2375")).code, 0)
    assert.strictEqual(statSync(cache).mtimeMs, before)
    // One that V8 rejects (damaged) is replaced by a good one.
    writeFileSync(cache, "not a code cache")
    assert.strictEqual((await swarm("list", "nodes://10.0.0.1:2375")).code, 0)
    assert.isAbove(readFileSync(cache).length, 100_000)
    // Other V8 flags: another cache, beside the first.
    const env = {
      ...process.env,
      HOME: dir,
      XDG_CACHE_HOME: join(dir, "cache"),
      NODE_OPTIONS: "--max-old-space-size=200"
    }
    await new Promise((resolve) =>
      execFile(process.execPath, [join(pkg, "swarm.cjs"), "list", "nodes://10.0.0.1:2375"], { env }, resolve)
    )
    assert.strictEqual(readdirSync(cacheDir).length, 2)
    assert.deepStrictEqual(readdirSync(pkg).sort(), ["swarm-main.cjs", "swarm.cjs"])
  })
})
