// Runs every bench/*.bench.mjs in turn (or those whose name contains argv[2]).
import { execFileSync } from "node:child_process"
import { readdirSync } from "node:fs"

const filter = process.argv[2] ?? ""
const files = readdirSync("bench")
  .filter((f) => f.endsWith(".bench.mjs") && f.includes(filter))
  .sort()
for (const file of files) {
  console.log(`\n# bench/${file}`)
  execFileSync(process.execPath, [`bench/${file}`], { stdio: "inherit" })
}
