/**
 * Hundreds of generated malformed requests over raw TCP against a real
 * listening server: each must get a 4xx (never a 500, never silence), and
 * the server must answer correctly afterwards. The generator is seeded, so a
 * failure names a case that can be replayed.
 */
import { assert, describe, it } from "@effect/vitest"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import * as Sqlite from "../../src/KvStore/Sqlite.js"
import * as Server from "../../src/Server/Server.js"
import { raw, request, statusOf } from "../support/http.js"

const TOKEN = "0123456789abcdef0123456789abcdef"

/** mulberry32: a tiny seeded PRNG. */
const prng = (seed: number) => () => {
  seed |= 0
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

interface Case {
  readonly name: string
  readonly bytes: Buffer
}

const http = (
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: Buffer | string
): Buffer => {
  const payload =
    body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(body) ? body : Buffer.from(body, "latin1")
  const lines = [`${method} ${path} HTTP/1.1`, "Host: 127.0.0.1", "Connection: close"]
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`)
  if (body !== undefined && !Object.keys(headers).some((k) => k.toLowerCase() === "transfer-encoding")) {
    lines.push(`Content-Length: ${payload.length}`)
  }
  return Buffer.concat([Buffer.from(lines.join("\r\n") + "\r\n\r\n", "latin1"), payload])
}

const generate = (seed: number): ReadonlyArray<Case> => {
  const rnd = prng(seed)
  const int = (n: number) => Math.floor(rnd() * n)
  const pick = <A>(xs: ReadonlyArray<A>): A => xs[int(xs.length)]!
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)))
  const printable = (n: number) =>
    Array.from({ length: n }, () => String.fromCharCode(33 + int(94)))
      .join("")
      .replace(/[?#%]/g, "x")
  const cases: Array<Case> = []
  const add = (name: string, b: Buffer) => cases.push({ name, bytes: b })

  // --- tokens that are not 32 hex digits ---
  const badTokens = [
    "",
    "abc",
    TOKEN.slice(0, 31),
    TOKEN + "0",
    TOKEN.slice(0, 31) + "g",
    TOKEN.slice(0, 31) + "%",
    "%30" + TOKEN.slice(1),
    " " + TOKEN.slice(1),
    "..",
    "%2e%2e",
    "\u00e9".repeat(16),
    "0x" + TOKEN.slice(2),
    "-" + TOKEN.slice(1),
    TOKEN.replace(/0/g, "O")
  ]
  for (const token of badTokens) {
    const path = `/v1/clusters/${encodeURI(token)}`
    add(`GET bad token ${JSON.stringify(token)}`, http("GET", path))
    add(`POST bad token ${JSON.stringify(token)}`, http("POST", `${path}?ttl=30`, {}, "10.0.0.1:2375"))
    add(`DELETE bad token ${JSON.stringify(token)}`, http("DELETE", path))
    add(`DELETE entry, bad token ${JSON.stringify(token)}`, http("DELETE", `${path}/10.0.0.1%3A2375`))
  }
  for (let i = 0; i < 40; i++) {
    const token = printable(1 + int(60)).replace(/\//g, "")
    if (/^[0-9a-fA-F]{32}$/.test(token)) continue
    add(`GET random token ${i}`, http(pick(["GET", "POST", "DELETE"]), `/v1/clusters/${token}`, {}, "x"))
  }

  // --- paths that lead nowhere ---
  const badPaths = [
    "/",
    "/v1",
    "/v2/clusters",
    "/v1/cluster",
    "/V1/CLUSTERS",
    "//v1/clusters",
    "/v1//clusters",
    "/healthz/x",
    "/metrics.txt",
    "/v1/clusters/../../etc/passwd",
    "/%00",
    "/v1/clusters%2f" + TOKEN,
    "*",
    "/" + "a".repeat(2000),
    "/v1/clusters/" + TOKEN + "/a/b/c"
  ]
  for (const path of badPaths) add(`GET path ${JSON.stringify(path.slice(0, 40))}`, http("GET", path))
  for (let i = 0; i < 40; i++) {
    add(`random path ${i}`, http(pick(["GET", "POST", "DELETE", "PUT"]), "/" + printable(1 + int(200))))
  }
  add("very long path", http("GET", "/v1/clusters/" + "f".repeat(20_000)))

  // --- methods ---
  for (const method of ["PUT", "PATCH", "OPTIONS", "TRACE", "PROPFIND", "MKCOL", "LOCK", "PURGE"]) {
    for (const path of [
      "/v1/clusters",
      `/v1/clusters/${TOKEN}`,
      `/v1/clusters/${TOKEN}/10.0.0.1:2`,
      "/healthz",
      "/metrics"
    ]) {
      add(`${method} ${path}`, http(method, path))
    }
  }
  add("GET entry path", http("GET", `/v1/clusters/${TOKEN}/10.0.0.1:2375`))
  add("POST entry path", http("POST", `/v1/clusters/${TOKEN}/10.0.0.1:2375`, {}, "10.0.0.1:2375"))
  add("POST healthz", http("POST", "/healthz", {}, "x"))
  add("DELETE clusters", http("DELETE", "/v1/clusters"))
  add("GET clusters (no listing)", http("GET", "/v1/clusters"))
  add("lower-case method", http("get", `/v1/clusters/${TOKEN}`))
  add("garbage method", http("G\u0001T", `/v1/clusters/${TOKEN}`))
  add("CONNECT", Buffer.from("CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n", "latin1"))
  add(
    "CONNECT with a body",
    Buffer.from("CONNECT x:1 HTTP/1.1\r\nHost: x:1\r\n\r\n\u0000\u0001garbage", "latin1")
  )
  add(
    "Upgrade to websocket",
    http("GET", "/v1/clusters/nope", { Connection: "Upgrade", Upgrade: "websocket" })
  )
  add(
    "Upgrade to h2c",
    http("GET", "/nope", {
      Connection: "Upgrade, HTTP2-Settings",
      Upgrade: "h2c",
      "HTTP2-Settings": "AAMAAABkAARAAAAAAAIAAAAA"
    })
  )

  // --- bodies ---
  const C = `/v1/clusters/${TOKEN}?ttl=30`
  const badAddresses = [
    "",
    " ",
    "10.0.0.1",
    "10.0.0.1:",
    ":2375",
    "10.0.0.1:0",
    "10.0.0.1:65536",
    "10.0.0.1:-1",
    "10.0.0.1:23 75",
    "10.0.0.1:2375:1",
    "::1:2375",
    "[::1:2375",
    "[::1]2375",
    "[]:2375",
    "[zz::1]:2375",
    '"10.0.0.1:2375"',
    '["10.0.0.1:2375"]',
    "10.0.0.1:2375\n10.0.0.2:2375",
    "host name:2375",
    "h\u00f6st:2375",
    "a/b:2375",
    "10.0.0.1:2375?",
    "x".repeat(400) + ":1",
    "\u0000:1"
  ]
  for (const address of badAddresses) {
    add(
      `POST address ${JSON.stringify(address.slice(0, 30))}`,
      http("POST", C, { "Content-Type": "application/json" }, Buffer.from(address, "utf8"))
    )
  }
  for (let i = 0; i < 60; i++) add(`binary body ${i}`, http("POST", C, {}, bytes(1 + int(2000))))
  add("invalid UTF-8", http("POST", C, {}, Buffer.from([0x31, 0x30, 0xc3, 0x28, 0x3a, 0x31])))
  add("huge body by Content-Length", http("POST", C, {}, Buffer.alloc(1_000_000, 0x61)))
  add(
    "huge declared length",
    Buffer.from(`POST ${C} HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\nabc`, "latin1")
  )
  const chunked = (parts: ReadonlyArray<string>) =>
    parts.map((p) => `${Buffer.byteLength(p).toString(16)}\r\n${p}\r\n`).join("") + "0\r\n\r\n"
  add(
    "huge chunked body",
    http(
      "POST",
      C,
      { "Transfer-Encoding": "chunked" },
      chunked(Array.from({ length: 20 }, () => "x".repeat(1000)))
    )
  )
  add("chunked garbage", http("POST", C, { "Transfer-Encoding": "chunked" }, chunked(["\u0001\u0002", "zz"])))
  add("bad chunk size", http("POST", C, { "Transfer-Encoding": "chunked" }, "zz\r\nabc\r\n0\r\n\r\n"))
  add(
    "bad Content-Length",
    Buffer.from(`POST ${C} HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n`, "latin1")
  )
  add(
    "negative Content-Length",
    Buffer.from(`POST ${C} HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n`, "latin1")
  )
  add(
    "two Content-Lengths",
    Buffer.from(
      `POST ${C} HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd`,
      "latin1"
    )
  )
  add("header too large", http("GET", `/v1/clusters/${TOKEN}`, { "X-Big": "y".repeat(20_000) }))
  add("bad header line", Buffer.from(`GET /healthz HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n`, "latin1"))
  add("bad version", Buffer.from(`GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n`, "latin1"))
  add("HTTP/2 preface", Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1"))
  add("binary garbage", bytes(200))
  add("TLS hello on plain port", Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00]))

  // --- query values ---
  const badTtls = [
    "-1",
    "abc",
    "1.5",
    "1e3",
    "0x10",
    "",
    "%",
    "%zz",
    "1s1",
    "-1s",
    "999999999999999999999",
    "1 s",
    "NaN",
    "Infinity"
  ]
  for (const ttl of badTtls)
    add(`ttl=${ttl}`, http("POST", `/v1/clusters/${TOKEN}?ttl=${ttl}`, {}, "10.0.0.1:2375"))
  add("ttl twice", http("POST", `/v1/clusters/${TOKEN}?ttl=1&ttl=2`, {}, "10.0.0.1:2375"))
  const badIndexes = ["", "x", "-1", "1.5", "1e9", "99999999999999999999", "0x1", " ", "%00"]
  for (const index of badIndexes)
    add(`index=${index}`, http("GET", `/v1/clusters/${TOKEN}?index=${index}&wait=1s`))
  const badWaits = ["x", "-1s", "1", "1.5", "s", "1 m", "1d", "%"].filter((w) => w !== "1")
  for (const wait of badWaits) add(`wait=${wait}`, http("GET", `/v1/clusters/${TOKEN}?index=1&wait=${wait}`))
  add("wait without index", http("GET", `/v1/clusters/${TOKEN}?wait=1s`))
  add("index twice", http("GET", `/v1/clusters/${TOKEN}?index=1&index=2`))
  for (let i = 0; i < 40; i++) {
    const key = pick(["ttl", "index", "wait"])
    const value = printable(1 + int(30))
    const method = key === "ttl" ? "POST" : "GET"
    const valid =
      (key === "ttl" && /^([0-9]{1,15}|([0-9]+(\.[0-9]*)?(ns|us|ms|s|m|h))+)$/.test(value)) ||
      (key === "index" && /^[0-9]{1,16}$/.test(value))
    if (valid || key === "wait") continue
    add(
      `random ${key}=${value}`,
      http(method, `/v1/clusters/${TOKEN}?${key}=${encodeURIComponent(value)}`, {}, "10.0.0.1:2375")
    )
  }
  for (const percent of ["%", "%2", "%zz", "%E0%A4%A", "%C0%80", "%FF"]) {
    add(`DELETE entry ${percent}`, http("DELETE", `/v1/clusters/${TOKEN}/10.0.0.1${percent}`))
  }
  return cases
}

describe("bad input", () => {
  const cases = generate(20240613)

  it("generates hundreds of cases", () => {
    assert.isAtLeast(cases.length, 300)
  })

  it.scoped(`every one of ${cases.length} malformed requests gets a 4xx, and the server still works`, () =>
    Effect.gen(function* () {
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => mkdtempSync(join(tmpdir(), "swarm-bad-"))),
        (d) => Effect.sync(() => rmSync(d, { recursive: true, force: true }))
      )
      const store = yield* Sqlite.make({ filename: join(dir, "bad.db") })
      const early = { store: store.early, whenDurable: store.whenDurable }
      const server = yield* Server.listen({ port: 0, store, stats: store.stats, early, maxEntries: 5 })
      const failures: Array<string> = []
      yield* Effect.forEach(
        cases,
        (c) =>
          Effect.promise(() => raw(server.port, c.bytes)).pipe(
            Effect.map((answer) => {
              const status = statusOf(answer)
              if (status < 400 || status > 499) {
                failures.push(`${c.name}: ${status === 0 ? "no answer" : answer.split("\r\n")[0]}`)
              }
            })
          ),
        { concurrency: 8, discard: true }
      )
      assert.deepStrictEqual(failures, [])

      // Nothing stuck, nothing stored, and the API still works.
      const created = yield* Effect.promise(() => request(server.origin, "/v1/clusters", { method: "POST" }))
      assert.strictEqual(created.status, 200)
      const registered = yield* Effect.promise(() =>
        request(server.origin, `/v1/clusters/${created.body}?ttl=60`, { method: "POST", body: "10.9.9.9:1" })
      )
      assert.strictEqual(registered.status, 200)
      const listed = yield* Effect.promise(() => request(server.origin, `/v1/clusters/${created.body}`))
      assert.deepStrictEqual(JSON.parse(listed.body), ["10.9.9.9:1"])
      const mine = yield* Effect.promise(() => request(server.origin, `/v1/clusters/${TOKEN}`))
      assert.deepStrictEqual(JSON.parse(mine.body), [], "no malformed request stored anything")
      const metrics = yield* Effect.promise(() => request(server.origin, "/metrics"))
      assert.notMatch(metrics.body, /status="5[0-9][0-9]"/)
    })
  )
})
