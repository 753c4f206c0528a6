// The bundled `swarm` outside this repo, where no store driver is installed (a global install without the
// optional peers): each command that needs one exits 1 with the install command, and the rest still work.
import { execFile } from "node:child_process"
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, assert, describe, it } from "vitest"

const dist = fileURLToPath(new URL("../../dist", import.meta.url))
const dir = mkdtempSync(join(tmpdir(), "swarm-nodrivers-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
for (const file of ["swarm.cjs", "swarm-main.cjs"]) copyFileSync(join(dist, file), join(dir, file))

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
      [join(dir, "swarm.cjs"), ...args],
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
    assert.isFalse(readdirSync(dir).includes("node_modules"))
    for (let up = dir; up !== join(up, ".."); up = join(up, ".."))
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
})
