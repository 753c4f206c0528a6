/**
 * Records when etcd deleted each key under a prefix (one JSON line per DELETE
 * event: key, revision, time), run inside an etcd member's namespace against
 * that member's loopback address, which no fault cuts (`node --import tsx
 * deletionWatcher.ts <endpoint> <prefix> <out>`). The suite runs one per
 * member and keeps the earliest time per deletion (`deletions.ts`): a member
 * cut off, paused or killed delivers late, the others in time. An entry seen
 * past its deadline then tells whether etcd deleted it late or an instance
 * answered from a stale view.
 */
import { openSync, writeSync } from "node:fs"
import { Etcd3 } from "etcd3"

const [endpoint, prefix, out] = process.argv.slice(2) as [string, string, string]
const file = openSync(out, "a")
const now = () => performance.timeOrigin + performance.now()
const client = new Etcd3({ hosts: endpoint })

const watcher = await client.watch().prefix(prefix).create()
watcher.on("delete", (kv) => {
  writeSync(file, JSON.stringify({ key: kv.key.toString(), revision: kv.mod_revision, at: now() }) + "\n")
})
// etcd3 re-opens the watch from the last revision it saw when its member comes back.
watcher.on("error", (error) => console.error(`watch: ${String(error)}`))
process.once("SIGTERM", () => {
  void watcher.cancel().finally(() => (client.close(), process.exit(0)))
})
