// Builds the ESM library (with .d.ts) into dist/esm and the `swarm` CLI as one bundled file.
import { execFileSync } from "node:child_process"
import { chmodSync } from "node:fs"
import { build } from "esbuild"

// No wholesale rm: several builds may run side by side during development; CI builds from a clean clone.
execFileSync(process.execPath, ["node_modules/typescript/bin/tsc", "-p", "tsconfig.build.json"], {
  stdio: "inherit"
})

await build({
  entryPoints: ["src/bin.ts"],
  outfile: "dist/swarm.cjs",
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node20",
  minify: true,
  legalComments: "none",
  banner: { js: "#!/usr/bin/env node" },
  // Native or file-loading packages stay in node_modules; they load only when a command needs them.
  external: [
    "better-sqlite3",
    "@effect/sql-sqlite-node",
    "@effect/sql",
    "@effect/experimental",
    "etcd3",
    "node-zookeeper-client"
  ],
  logLevel: "warning"
})
chmodSync("dist/swarm.cjs", 0o755)
