// Builds the ESM library (with .d.ts) into dist/esm, and the `swarm` CLI:
//   dist/swarm-main.cjs        the CLI and everything it needs, bundled and minified
//   dist/swarm.cjs             a small loader (the package's bin) that compiles the bundle with V8's code cache
//   dist/swarm-main.<hash>.<node>-<arch>.v8  that code cache for this Node, made here by running the CLI once
//                              (for this repo's own runs; the npm package ships none, see swarm-loader.cjs)
// Why: cold start. Compiling the bundle from source costs more than Node's own start-up; with the cache it
// is a quick deserialisation. See bench/coldstart.bench.mjs.
import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import { chmodSync, existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { build } from "esbuild"

// No wholesale rm: several builds may run side by side during development; CI builds from a clean clone.
// Source maps are no longer emitted (tsconfig.build.json): drop any left from older builds, or they would be packed.
if (existsSync("dist/esm"))
  for (const entry of readdirSync("dist/esm", { recursive: true, withFileTypes: true })) {
    if (entry.isFile() && entry.name.endsWith(".js.map"))
      rmSync(join(entry.parentPath, entry.name), { force: true })
  }
execFileSync(process.execPath, ["node_modules/typescript/bin/tsc", "-p", "tsconfig.build.json"], {
  stdio: "inherit"
})

const { version } = JSON.parse(readFileSync("package.json", "utf8"))

/**
 * `import { Effect, Stream } from "effect"` pulls in the package index, and with it modules that esbuild
 * cannot drop (fast-check, undici, ws, msgpackr: CommonJS, or re-exported with `export *`). Each
 * capitalised name of these packages is a module of its own, so import it from there instead.
 * Only our own sources are rewritten, and only for the bundle; the library build is untouched.
 */
const BARRELS =
  /import\s*\{([^}]*)\}\s*from\s*"(effect|@effect\/platform|@effect\/platform-node|@effect\/cli)"/g
const FUNCTION_EXPORTS = new Set(["absurd", "flow", "hole", "identity", "pipe", "unsafeCoerce"])
const deepImports = {
  name: "deep-imports",
  setup(b) {
    b.onLoad({ filter: /[\\/]src[\\/].*\.ts$/ }, (args) => {
      const source = readFileSync(args.path, "utf8")
      const contents = source.replace(BARRELS, (whole, names, pkg) => {
        const kept = []
        const out = []
        for (const raw of names.split(",")) {
          const spec = raw.trim()
          if (spec === "" || spec.startsWith("type ")) continue
          const [name, alias = name] = spec.split(/\s+as\s+/)
          if (/^[A-Z]/.test(name)) out.push(`import * as ${alias} from "${pkg}/${name}"`)
          else if (pkg === "effect" && FUNCTION_EXPORTS.has(name))
            out.push(`import { ${spec} } from "effect/Function"`)
          else kept.push(spec)
        }
        if (kept.length > 0) out.push(`import { ${kept.join(", ")} } from "${pkg}"`)
        return out.length === 0 ? "" : out.join(";")
      })
      return { contents, loader: "ts" }
    })
  }
}

/**
 * @effect/cli parses YAML, TOML and INI for `Options.fileParse` and config files, which `swarm` does not
 * use; their parsers would still load at every start. They are replaced by stubs that fail if called.
 */
const stubs = {
  name: "stubs",
  setup(b) {
    b.onResolve({ filter: /^(yaml|toml|ini)$/ }, (args) => ({ path: args.path, namespace: "stub" }))
    b.onLoad({ filter: /.*/, namespace: "stub" }, (args) => ({
      contents: `const fail = () => { throw new Error("swarm is built without ${args.path} support") }
        module.exports = { parse: fail, stringify: fail, decode: fail, encode: fail }`,
      loader: "js"
    }))
  }
}

/**
 * @effect/platform-node's node:http client imports node:https at the top, and with it node:tls and node:crypto:
 * 2-3 ms of every `swarm create` against an http:// service, which never uses them. In the bundle that import
 * becomes a namespace that requires node:https on first use (the token client makes no https agent for an
 * http:// service). The build fails if the import is not found, so an upgrade that moves it is noticed.
 */
const HTTPS_IMPORT = 'import * as Https from "node:https";'
const lazyHttps = {
  name: "lazy-https",
  setup(b) {
    b.onLoad(
      { filter: /@effect[\\/]platform-node[\\/]dist[\\/]esm[\\/]internal[\\/]httpClient\.js$/ },
      (args) => {
        const source = readFileSync(args.path, "utf8")
        if (!source.includes(HTTPS_IMPORT))
          throw new Error(`lazy-https: ${args.path} no longer has ${HTTPS_IMPORT}`)
        const lazy = `let https$;
        const Https = {
          get Agent() { return (https$ ??= require("node:https")).Agent },
          get request() { return (https$ ??= require("node:https")).request }
        };`
        return { contents: source.replace(HTTPS_IMPORT, lazy), loader: "js" }
      }
    )
  }
}

const result = await build({
  entryPoints: ["src/bin.ts"],
  outfile: `dist/swarm-main.cjs.${process.pid}.tmp`,
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node20",
  minify: true,
  legalComments: "none",
  // `swarm --version` without reading package.json at run time.
  define: { __SWARM_VERSION__: JSON.stringify(version) },
  plugins: [deepImports, stubs, lazyHttps],
  // The store drivers (native or file-loading) stay in node_modules; they load only when a command needs them.
  // They are optional peers of the library, and devDependencies of this repo.
  external: ["better-sqlite3", "etcd3", "node-zookeeper-client"],
  logLevel: "warning",
  // SWARM_BUILD_META=meta.json: write esbuild's metafile, to see what the bundle is made of.
  metafile: process.env.SWARM_BUILD_META !== undefined
})
if (process.env.SWARM_BUILD_META) writeFileSync(process.env.SWARM_BUILD_META, JSON.stringify(result.metafile))

// The cache is only valid for the exact bundle: its name carries the bundle's hash.
const bundle = readFileSync(`dist/swarm-main.cjs.${process.pid}.tmp`)
const hash = createHash("sha256").update(bundle).digest("hex").slice(0, 16)
renameSync(`dist/swarm-main.cjs.${process.pid}.tmp`, "dist/swarm-main.cjs")

const loader = readFileSync("scripts/swarm-loader.cjs", "utf8")
  .replace("__BUNDLE_HASH__", hash)
  .replace("__SWARM_VERSION__", () => version)
writeFileSync(`dist/swarm.cjs.${process.pid}.tmp`, loader)
chmodSync(`dist/swarm.cjs.${process.pid}.tmp`, 0o755)
renameSync(`dist/swarm.cjs.${process.pid}.tmp`, "dist/swarm.cjs")

// Make the code cache: run a command that goes through parsing, a backend and output, and let the loader
// write the cache on exit. Caches of older bundles are removed.
for (const file of readdirSync("dist")) {
  // Caches of other bundles, and of this one in the old name without the Node version.
  if (/^swarm-main\..*\.v8$/.test(file) && (!file.includes(hash) || file === `swarm-main.${hash}.v8`))
    rmSync(`dist/${file}`, { force: true })
}
execFileSync(process.execPath, ["dist/swarm.cjs", "list", "nodes://127.0.0.1:[1:2]"], {
  stdio: "ignore",
  env: { ...process.env, SWARM_CODE_CACHE: "write" }
})
