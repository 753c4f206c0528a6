/**
 * The one gate for everything a test needs from outside the code under test: etcd, ZooKeeper,
 * Chromium, openssl, the built CLI, root (network namespaces: test/support/netns.ts), the npm registry
 * (test/support/npm.ts).
 *
 * Outside CI a missing need is a loud skip: a banner on stderr and `false`, so the caller skips.
 * With `CI=true` it is a failure: the gate throws, so the file (or the hook) fails instead of
 * going green without running. `.ci/run` exports `CI=true` itself.
 *
 *   describe.skipIf(!gates.openssl())("over TLS", …)
 *   describe.skipIf(!etcdAvailable())("real etcd", …)   // test/support/etcd.ts, through `gate`
 */
import { spawnSync } from "node:child_process"
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"

export const inCi = (): boolean => process.env["CI"] === "true"

/**
 * `true` when `present`; otherwise throws under `CI=true`, or warns loudly and returns `false`.
 * `name` is what is missing, `install` how to get it.
 */
export const gate = (name: string, present: boolean, install: string): boolean => {
  if (present) return true
  const message = `${name} is not available (${install}); the tests that need it cannot run`
  if (inCi()) throw new Error(`${message}. CI=true: this is a failure, not a skip.`)
  console.warn(`\n!!! SKIPPING the tests that need ${name}: ${message}. !!!\n`)
  return false
}

/** Whether `command args` runs and exits 0. */
export const onPath = (command: string, args: ReadonlyArray<string> = ["--version"]): boolean => {
  const result = spawnSync(command, args, { stdio: "ignore", timeout: 10_000 })
  return result.error === undefined && result.status === 0
}

/** The built CLI, wherever the tests run from. */
export const SWARM = fileURLToPath(new URL("../../dist/swarm.cjs", import.meta.url))

/** For suites that mean nothing without the CLI (e2e): a failure even outside CI (`npm test` builds first). */
export const requireBuilt = (): void => {
  if (!existsSync(SWARM)) throw new Error(`${SWARM} is missing: run \`npm run build\` before the e2e tests`)
}

export const CHROMIUM = "/usr/bin/chromium"

const once = (check: () => boolean): (() => boolean) => {
  let answer: boolean | undefined
  return () => (answer ??= check())
}

/** Needs without a helper module of their own; etcd, ZooKeeper and netns gate in their support modules. */
export const gates = {
  openssl: once(() => gate("openssl", onPath("openssl", ["version"]), "apt-get install openssl")),
  chromium: once(() => gate("Chromium", existsSync(CHROMIUM), `apt-get install chromium (${CHROMIUM})`)),
  built: once(() => gate("the built CLI", existsSync(SWARM), `run \`npm run build\` (${SWARM})`))
}
