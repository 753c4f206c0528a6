#!/usr/bin/env node
// The `swarm` executable (copied to dist/swarm.cjs by scripts/build.mjs).
//
// It runs dist/swarm-main.cjs, compiled with the V8 code cache made at build time, which saves most of the
// time V8 would spend parsing and compiling the bundle at every start. When the cache is missing or was made
// by another Node/V8 version, V8 rejects it and compiles from source as usual; the loader then tries to
// store a fresh cache for next time (best effort: a read-only install just stays uncached).
// SWARM_CODE_CACHE=off skips the cache; SWARM_CODE_CACHE=write always rewrites it.
"use strict"
const fs = require("node:fs")
const path = require("node:path")
const vm = require("node:vm")
const Module = require("node:module")

const bundle = path.join(__dirname, "swarm-main.cjs")
const cacheFile = path.join(__dirname, "swarm-main.__BUNDLE_HASH__.v8")
const mode = process.env.SWARM_CODE_CACHE ?? ""

const source = fs.readFileSync(bundle, "utf8")
let cachedData
if (mode !== "off" && mode !== "write") {
  try {
    cachedData = fs.readFileSync(cacheFile)
  } catch {
    // No cache yet.
  }
}
const script = new vm.Script(Module.wrap(source), { filename: bundle, cachedData })

if (mode !== "off" && (mode === "write" || cachedData === undefined || script.cachedDataRejected)) {
  // At exit, so the cache also holds the functions this run compiled lazily.
  process.once("exit", () => {
    try {
      const temp = `${cacheFile}.${process.pid}.tmp`
      fs.writeFileSync(temp, script.createCachedData())
      fs.renameSync(temp, cacheFile)
    } catch {
      // Not writable: fine, the next start compiles from source again.
    }
  })
}

const mod = { exports: {}, filename: bundle, id: bundle, path: __dirname, loaded: false }
script.runInThisContext()(mod.exports, Module.createRequire(bundle), mod, bundle, __dirname)
