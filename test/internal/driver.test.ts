// The missing-driver error: real "not found" failures from Node's ESM and CommonJS loaders, made in a folder
// with no node_modules, become MissingDriver; anything else does not.
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit } from "effect"
import { execFileSync } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll } from "vitest"
import * as Driver from "../../src/internal/driver.js"

const dir = mkdtempSync(join(tmpdir(), "swarm-driver-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/**
 * What Node throws for `specifier` imported from a folder outside any node_modules, through ESM `import` or
 * CommonJS `require` (the bundled CLI's way). A real node process: vitest's own loader words it differently.
 */
const failure = (specifier: string, how: "import" | "require"): unknown => {
  const load =
    how === "import"
      ? `import(${JSON.stringify(specifier)})`
      : `(async () => require(${JSON.stringify(specifier)}))()`
  const script = `${load}.then(() => console.log("null"), (e) => console.log(JSON.stringify({ code: e.code, message: e.message })))`
  const out = execFileSync(process.execPath, ["-e", script], { cwd: dir, encoding: "utf8" })
  const error: unknown = JSON.parse(out)
  if (error === null) assert.fail(`${specifier} was found from ${dir}`)
  return Object.assign(new Error((error as { message: string }).message), error)
}
const esmFailure = (specifier: string) => failure(specifier, "import")
const cjsFailure = (specifier: string) => failure(specifier, "require")

describe("internal/driver", () => {
  it.effect("a missing driver is MissingDriver, naming the package and the install command", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        Driver.load("etcd3", "etcd://", () => Promise.reject(esmFailure("etcd3")))
      )
      assert.strictEqual(error._tag, "MissingDriver")
      assert.strictEqual(error.driver, "etcd3")
      assert.strictEqual(error.install, "npm install etcd3@1")
      assert.include(error.message, "etcd:// needs the etcd3 package")
      assert.include(error.message, "`npm install etcd3@1`")
    })
  )

  it.effect("ESM and CommonJS wordings are both recognised, subpaths too", () =>
    Effect.sync(() => {
      assert.isTrue(Driver.isMissing(esmFailure("etcd3"), "etcd3"))
      assert.isTrue(Driver.isMissing(esmFailure("better-sqlite3"), "better-sqlite3"))
      assert.isTrue(Driver.isMissing(cjsFailure("node-zookeeper-client"), "node-zookeeper-client"))
      assert.isTrue(
        Driver.isMissing(
          cjsFailure("node-zookeeper-client/lib/ConnectionManager.js"),
          "node-zookeeper-client"
        )
      )
    })
  )

  it.effect("another package missing, or another error, is not the driver's absence", () =>
    Effect.gen(function* () {
      // A dependency of the driver missing is a broken install, not a driver to add.
      const other = esmFailure("@grpc/grpc-js")
      assert.isFalse(Driver.isMissing(other, "etcd3"))
      assert.isFalse(Driver.isMissing(esmFailure("etcd3-extra"), "etcd3"))
      assert.isFalse(Driver.isMissing(new Error("Cannot find package 'etcd3'"), "etcd3"))
      const exit = yield* Effect.exit(Driver.load("etcd3", "etcd://", () => Promise.reject(other)))
      assert.isTrue(Exit.isFailure(exit) && Cause.isDie(exit.cause))
      const mapped = yield* Effect.flip(
        Driver.load(
          "etcd3",
          "etcd://",
          () => Promise.reject(other),
          () => "broken" as const
        )
      )
      assert.strictEqual(mapped, "broken")
    })
  )

  it.effect("a driver that loads is returned as it is", () =>
    Effect.gen(function* () {
      const module = yield* Driver.load("etcd3", "etcd://", () => Promise.resolve({ loaded: true }))
      assert.isTrue(module.loaded)
    })
  )
})
