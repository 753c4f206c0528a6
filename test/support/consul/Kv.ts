/**
 * The Consul double's KV endpoint, after agent/kvs_endpoint.go: `GET` (single
 * key, `?recurse`, `?keys`, `?raw`), `PUT` (`?acquire=`, `?release=`,
 * `?cas=`, `?flags=`), `DELETE` (`?recurse`, `?cas=`). Values are base64 in
 * the JSON; a missing key or empty prefix is a 404 that still carries
 * `X-Consul-Index`.
 */
import { HttpError, type Reply } from "./Http.js"
import { type ConsulState, type DoubleEntry, sameEntry } from "./State.js"

/** An entry as Consul's JSON has it (the KV endpoint's and a transaction's results). */
export const entryJson = (entry: DoubleEntry) => ({
  LockIndex: entry.lockIndex,
  Key: entry.key,
  Flags: entry.flags,
  Value: entry.value.length === 0 ? null : entry.value.toString("base64"),
  ...(entry.session ? { Session: entry.session } : {}),
  CreateIndex: entry.createIndex,
  ModifyIndex: entry.modifyIndex
})

export class KvEndpoint {
  constructor(private readonly state: ConsulState) {}

  /** A `GET`, without the blocking: every reply carries the index to block on. */
  read(key: string, params: URLSearchParams): Reply {
    const kv = this.state.kv
    if (params.has("keys")) {
      const separator = params.get("separator") ?? params.get("seperator") ?? ""
      const keys = new Set<string>()
      for (const k of kv.keys()) {
        if (!k.startsWith(key)) continue
        const cut = separator === "" ? -1 : k.indexOf(separator, key.length)
        keys.add(cut < 0 ? k : k.slice(0, cut + separator.length))
      }
      const index = this.state.prefixIndex(key)
      if (keys.size === 0 && key !== "") return { status: 404, body: "", index }
      return { status: 200, body: JSON.stringify([...keys].sort()), index }
    }
    if (params.has("recurse")) {
      const entries = [...kv.values()]
        .filter((e) => e.key.startsWith(key))
        .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      const index = this.state.prefixIndex(key)
      if (entries.length === 0) return { status: 404, body: "", index }
      return { status: 200, body: JSON.stringify(entries.map(entryJson)), index }
    }
    if (key === "") throw new HttpError(400, "Missing key name")
    const entry = kv.get(key)
    const index = this.state.keyIndex(key)
    if (entry === undefined) return { status: 404, body: "", index }
    if (params.has("raw")) return { status: 200, body: entry.value.toString("utf8"), index }
    return { status: 200, body: JSON.stringify([entryJson(entry)]), index }
  }

  put(key: string, params: URLSearchParams, body: Buffer): Reply {
    const state = this.state
    if (key === "") throw new HttpError(400, "Missing key name")
    const flagNames = ["cas", "acquire", "release"].filter((f) => params.has(f))
    if (flagNames.length > 1) throw new HttpError(400, `Conflicting flags: ${params.toString()}\n`)
    const flags = params.has("flags") ? Number(params.get("flags")) : 0
    if (!Number.isSafeInteger(flags) || flags < 0)
      throw new HttpError(400, `strconv.ParseUint: invalid flags`)
    const existing = state.kv.get(key)
    const answer = (ok: boolean): Reply => ({ status: 200, body: ok ? "true" : "false" })
    // kvsPreApply refuses an acquire inside the lock delay before raft; anything past it spends an index.
    const delayUntil = state.lockDelays.get(key)
    if (
      params.has("acquire") &&
      delayUntil !== undefined &&
      state.clock.now() < delayUntil &&
      existing?.session !== params.get("acquire")
    )
      return answer(false)
    const index = state.nextIndex()
    const write = (session: string | undefined, lockIndex: number) => {
      const entry = {
        key,
        value: body,
        flags,
        createIndex: existing?.createIndex ?? index,
        modifyIndex: index,
        lockIndex,
        session
      }
      if (sameEntry(existing, entry)) return
      state.setEntry(entry)
      state.notify()
    }
    if (params.has("acquire")) {
      const id = params.get("acquire") ?? ""
      if (!state.sessions.has(id)) return { status: 500, body: `Invalid session ${JSON.stringify(id)}` }
      if (existing?.session !== undefined && existing.session !== id) return answer(false)
      const lockIndex = existing?.session === id ? existing.lockIndex : (existing?.lockIndex ?? 0) + 1
      write(id, lockIndex)
      return answer(true)
    }
    if (params.has("release")) {
      const id = params.get("release") ?? ""
      if (existing === undefined || existing.session !== id) return answer(false)
      write(undefined, existing.lockIndex)
      return answer(true)
    }
    if (params.has("cas")) {
      const cas = Number(params.get("cas"))
      if (!Number.isSafeInteger(cas) || cas < 0) throw new HttpError(400, "strconv.ParseUint: invalid cas")
      if (cas === 0 ? existing !== undefined : existing?.modifyIndex !== cas) return answer(false)
    }
    write(existing?.session, existing?.lockIndex ?? 0)
    return answer(true)
  }

  delete(key: string, params: URLSearchParams): Reply {
    const state = this.state
    if (params.has("recurse") && params.has("cas"))
      throw new HttpError(400, `Conflicting flags: ${params.toString()}\n`)
    const index = state.nextIndex()
    if (params.has("recurse")) {
      let any = false
      for (const k of [...state.kv.keys()]) if (k.startsWith(key)) any = state.deleteEntry(k, index) || any
      if (any) state.notify()
      return { status: 200, body: "true" }
    }
    if (key === "") throw new HttpError(400, "Missing key name")
    if (params.has("cas")) {
      const cas = Number(params.get("cas"))
      if (state.kv.get(key)?.modifyIndex !== cas) return { status: 200, body: "false" }
    }
    if (state.deleteEntry(key, index)) state.notify()
    return { status: 200, body: "true" }
  }
}
