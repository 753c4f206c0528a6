/**
 * The network-namespace lab itself: nodes reach each other over their
 * bridge, a cut drops packets silently (a connect times out, it is not
 * refused), a heal restores the path, and dispose leaves no namespace.
 */
import { execFileSync } from "node:child_process"
import { join } from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { removeDir, tempDir, waitUntil } from "../support/kv-server.js"
import { type Lab, makeLab, netnsAvailable } from "../support/netns.js"

const haveNetns = netnsAvailable()

// Connects to host:port with a 1.5 s limit and prints "ok", the error code, or "timeout".
const probe = `
const s = require("node:net").connect(Number(process.argv[2]), process.argv[1])
const t = setTimeout(() => { console.log("timeout"); process.exit(0) }, 1500)
s.on("connect", () => { console.log("ok"); process.exit(0) })
s.on("error", (e) => { clearTimeout(t); console.log(e.code); process.exit(0) })
`
const listen = `require("node:net").createServer((s) => s.end()).listen(7000, process.argv[1])`

const namespaces = () => execFileSync("ip", ["netns", "list"], { encoding: "utf8" })

describe.skipIf(!haveNetns)("netns lab", () => {
  let lab: Lab | undefined
  const dir = tempDir("netns")
  afterAll(() => {
    lab?.dispose()
    removeDir(dir)
  })

  it("connects nodes, cuts silently, heals, and removes everything", async () => {
    lab = makeLab("t")
    const a = lab.node("a", ["front"])
    const b = lab.node("b", ["front", "back"])
    const c = lab.node("c", ["back"])
    assert.match(a.address("front"), /^10\.199\.\d+\.\d+$/)
    assert.throws(() => a.address("back"), /not on network back/)
    const server = lab.process(b, process.execPath, ["-e", listen, b.address("front")], join(dir, "b.log"))
    server.start()
    const reach = (from = a) =>
      lab!.exec(from, process.execPath, ["-e", probe, b.address("front"), "7000"]).trim()
    await waitUntil(
      "server in b",
      async () => reach() === "ok",
      10_000,
      () => server.logTail()
    )
    // c is only on "back": no route to b's front address at all.
    assert.strictEqual(reach(c), "ENETUNREACH")
    // The root namespace has no route into the lab's networks.
    assert.notInclude(execFileSync("ip", ["route"], { encoding: "utf8" }), "10.199.")

    lab.cut(b, "front")
    assert.strictEqual(reach(), "timeout")
    lab.heal(b)
    assert.strictEqual(reach(), "ok")
    lab.cut(a)
    assert.strictEqual(reach(), "timeout")
    lab.heal(a, "front")
    assert.strictEqual(reach(), "ok")

    await server.stop("SIGKILL")
    assert.include(namespaces(), lab.id)
    lab.dispose()
    assert.notInclude(namespaces(), lab.id)
  }, 60_000)
})
