/** npm as a user runs it, outside this repository: for the tests that install our packed tarball elsewhere. */
import { execFile } from "node:child_process"
import { assert } from "vitest"
import { gate } from "./gate.js"

export interface Run {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** npm's own variables (npm test sets them) would point the child npm at this repo: keep only the user's config. */
export const cleanEnv = (): NodeJS.ProcessEnv =>
  Object.fromEntries(
    Object.entries(process.env).filter(
      ([key]) =>
        !key.startsWith("npm_") ||
        ["npm_config_cache", "npm_config_registry", "npm_config_userconfig"].includes(key)
    )
  )

export const run = (command: string, args: ReadonlyArray<string>, cwd: string, timeout = 140_000) =>
  new Promise<Run>((resolve) =>
    execFile(command, args, { cwd, env: cleanEnv(), timeout, maxBuffer: 64 << 20 }, (error, stdout, stderr) =>
      resolve({
        code: error === null ? 0 : typeof error.code === "number" ? error.code : null,
        stdout,
        stderr
      })
    )
  )

export interface Packed {
  readonly filename: string
  readonly size: number
  readonly files: ReadonlyArray<string>
}

/** `npm pack` of the package at `root` into `destination`. */
export const pack = async (root: string, destination: string): Promise<Packed> => {
  const packed = await run("npm", ["pack", "--json", "--pack-destination", destination], root)
  assert.strictEqual(packed.code, 0, `npm pack failed:\n${packed.stderr}`)
  const [info] = JSON.parse(packed.stdout) as Array<{
    filename: string
    size: number
    files: Array<{ path: string }>
  }>
  return { filename: info!.filename, size: info!.size, files: info!.files.map((f) => f.path) }
}

/**
 * Whether a failed npm run failed for want of the registry: outside CI that is a loud skip (the returned
 * excerpt says why); under CI=true the gate throws, and any other failure is the caller's to fail on.
 */
export const offlineReason = (failed: Run): string | undefined => {
  if (!/E(NOTFOUND|AI_AGAIN|TIMEDOUT|CONNREFUSED|CONNRESET)|network/i.test(failed.stderr)) return undefined
  const excerpt = failed.stderr.split("\n").slice(0, 5).join("\n")
  gate("the npm registry", false, `npm could not reach it:\n${excerpt}`)
  return excerpt
}
