/** `swarm serve`'s admin token (SWARM_ADMIN_TOKEN, --admin-token-file) and the console lines it prints. */
import { assert, describe, it } from "@effect/vitest"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { ConfigProvider, Effect, Option } from "effect"
import * as Serve from "../../src/Cli/ServeConfig.js"
import * as ServerConfig from "../../src/Server/Config.js"
import * as ServeRun from "../../src/Cli/ServeRun.js"

const input = (over: Partial<Serve.ServeInput> = {}): Serve.ServeInput => ({
  listen: ServerConfig.DEFAULT_LISTEN,
  store: Option.none(),
  dataDir: Option.some("/tmp/swarm-test-data"),
  defaultTtl: ServerConfig.DEFAULT_TTL,
  minTtl: ServerConfig.DEFAULT_MIN_TTL,
  maxTtl: ServerConfig.DEFAULT_MAX_TTL,
  maxEntries: 1000,
  tlscert: Option.none(),
  tlskey: Option.none(),
  tlscacert: Option.none(),
  tlsverify: false,
  ...over
})

const withEnv = (env: Record<string, string>) =>
  Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))

describe("serve admin token", () => {
  it.effect("none: the overview is off", () =>
    Effect.gen(function* () {
      const config = yield* Serve.parse(input()).pipe(withEnv({}))
      assert.isUndefined(config.admin)
    })
  )

  it.effect("SWARM_ADMIN_TOKEN, and a short one is refused with a hint", () =>
    Effect.gen(function* () {
      const config = yield* Serve.parse(input()).pipe(withEnv({ SWARM_ADMIN_TOKEN: " 0123456789abcdef0 " }))
      assert.deepStrictEqual(config.admin, { kind: "env", token: "0123456789abcdef0" })
      const error = yield* Effect.flip(Serve.parse(input()).pipe(withEnv({ SWARM_ADMIN_TOKEN: "short" })))
      assert.include(error.reason, "SWARM_ADMIN_TOKEN is too short (5 characters)")
      assert.include(error.reason, "openssl rand -hex 16")
    })
  )

  it.scoped("--admin-token-file wins over the env var; its first line is the token", () =>
    Effect.gen(function* () {
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => mkdtempSync(join(tmpdir(), "swarm-admin-"))),
        (d) => Effect.sync(() => rmSync(d, { recursive: true, force: true }))
      )
      const file = join(dir, "token")
      writeFileSync(file, "file-token-0123456789\nignored\n")
      const config = yield* Serve.parse(input({ adminTokenFile: Option.some(file) })).pipe(
        withEnv({ SWARM_ADMIN_TOKEN: "env-token-0123456789" })
      )
      assert.deepStrictEqual(config.admin, { kind: "file", path: file })
      assert.strictEqual(yield* Serve.readAdminToken(config.admin!), "file-token-0123456789")
      writeFileSync(file, "tiny\n")
      const short = yield* Effect.flip(Serve.readAdminToken(config.admin!))
      assert.include(short.reason, "needs at least 16")
      const missing = yield* Effect.flip(Serve.readAdminToken({ kind: "file", path: join(dir, "nope") }))
      assert.include(missing.reason, "cannot read it")
    })
  )

  it("the start-up lines name the console and whether the overview is on", () => {
    const on = ServeRun.instructions("http://127.0.0.1:9000/v1", false, true)
    assert.include(on, "web console:       http://127.0.0.1:9000/ui/clusters/$TOKEN")
    assert.include(on, "operator overview: http://127.0.0.1:9000/ui/")
    const off = ServeRun.instructions("http://127.0.0.1:8375/v1", false)
    assert.include(off, "operator overview: off (set SWARM_ADMIN_TOKEN or --admin-token-file")
  })
})
