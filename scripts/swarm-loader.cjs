#!/usr/bin/env node
// The `swarm` executable (copied to dist/swarm.cjs by scripts/build.mjs).
//
// It runs dist/swarm-main.cjs compiled with a V8 code cache, which saves most of the time V8 would spend
// parsing and compiling the bundle at every start. A cache only fits the exact bundle, Node version,
// architecture and V8 flags that made it, so its file name carries all four, and a cache that does not fit is
// never even read:
// - the build makes one next to the bundle (dist/, for this repo's own runs; the npm package ships none);
// - otherwise the first run compiles from source and stores one in the user's cache directory
//   ($XDG_CACHE_HOME/swarm-discovery, else ~/.cache/swarm-discovery; %LOCALAPPDATA% on Windows).
// The package folder is never written at run time (it may be read-only, or shared by several Node versions).
// SWARM_CODE_CACHE=off skips the cache; SWARM_CODE_CACHE=write (the build) rewrites the one next to the bundle.
"use strict"
const fs = require("node:fs")
const path = require("node:path")
const vm = require("node:vm")
const Module = require("node:module")

// `swarm --version` (inlined by scripts/build.mjs) without reading or deserialising the bundle: those two are
// most of its cold start.
if (process.argv.length === 3 && process.argv[2] === "--version") {
  fs.writeSync(1, "__SWARM_VERSION__\n")
  return
}

const bundle = path.join(__dirname, "swarm-main.cjs")
const mode = process.env.SWARM_CODE_CACHE ?? ""

/** FNV-1a: a cheap, stable digest of the flags (node:crypto would cost more than it saves). */
const fnv = (text) => {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0
  return h.toString(16).padStart(8, "0")
}
const flags = `${process.execArgv.join(" ")}|${process.env.NODE_OPTIONS ?? ""}`
const key = `${process.version}-${process.arch}${flags === "|" ? "" : `-${fnv(flags)}`}`
const name = `swarm-main.__BUNDLE_HASH__.${key}.v8`
const shipped = path.join(__dirname, name)

const userCacheDir = () => {
  const env = process.env
  if (process.platform === "win32" && env.LOCALAPPDATA)
    return path.join(env.LOCALAPPDATA, "swarm-discovery", "Cache")
  if (env.XDG_CACHE_HOME && path.isAbsolute(env.XDG_CACHE_HOME))
    return path.join(env.XDG_CACHE_HOME, "swarm-discovery")
  const home = env.HOME || require("node:os").homedir()
  return home ? path.join(home, ".cache", "swarm-discovery") : undefined
}

const read = (file) => {
  try {
    return fs.readFileSync(file)
  } catch {
    return undefined
  }
}

let cachedData
let target // where to store a cache at exit, if any
if (mode === "write") {
  target = shipped
} else if (mode !== "off") {
  cachedData = read(shipped)
  if (cachedData === undefined) {
    const dir = userCacheDir()
    if (dir !== undefined) {
      target = path.join(dir, name)
      cachedData = read(target)
    }
  }
}

const source = fs.readFileSync(bundle, "utf8")
const script = new vm.Script(Module.wrap(source), { filename: bundle, cachedData })

if (target !== undefined && (mode === "write" || cachedData === undefined || script.cachedDataRejected)) {
  // At exit, so the cache also holds the functions this run compiled lazily. Best effort: an unwritable
  // directory just means the next start compiles from source again.
  process.once("exit", () => {
    try {
      const dir = path.dirname(target)
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
      const temp = `${target}.${process.pid}.tmp`
      fs.writeFileSync(temp, script.createCachedData(), { mode: 0o600 })
      fs.renameSync(temp, target)
      if (mode !== "write") prune(dir)
    } catch {
      // Not writable: fine.
    }
  })
}

/** The user cache keeps the newest few (other versions of swarm, other Node versions); older ones go. */
function prune(dir) {
  const caches = fs
    .readdirSync(dir)
    .filter((file) => /^swarm-main\..*\.v8$/.test(file))
    .map((file) => ({ file, mtime: fs.statSync(path.join(dir, file)).mtimeMs }))
    .sort((a, b) => b.mtime - a.mtime)
  for (const { file } of caches.slice(8)) fs.rmSync(path.join(dir, file), { force: true })
}

const mod = { exports: {}, filename: bundle, id: bundle, path: __dirname, loaded: false }
script.runInThisContext()(mod.exports, Module.createRequire(bundle), mod, bundle, __dirname)
