/**
 * The Consul double against a real Consul 1.10.12: every exchange of
 * `../shared/consul-1.10/transcript.json` (beside the project root) is replayed, in order, against
 * a fresh double, and every difference in status, Content-Type, `X-Consul-*` headers, index and body
 * (JSON compared as values, session ids mapped) is reported. The last entry, the measured expiry of
 * a never-renewed 10 s session, is checked against the double's default 2× TTL.
 *
 * Differences left on purpose are in ACCEPTED, each with its reason.
 */
import { spawnSync } from "node:child_process"
import { existsSync, readFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { gate } from "../gate.js"
import { ManualClock } from "./Clock.js"
import { type ConsulDouble, startConsulDouble } from "./Double.js"

interface Exchange {
  readonly note: string
  readonly request: { readonly method: string; readonly path: string; readonly body: string | null }
  readonly response: {
    readonly status: number
    readonly headers: Record<string, string>
    readonly body: string
    readonly json: unknown
  }
  readonly elapsed_ms: number
}
interface Measurement {
  readonly note: string
  readonly measured_s: number
}

const ROOT = fileURLToPath(new URL("../../../", import.meta.url))
const RELATIVE = "consul-1.10/transcript.json"

/** `<root>/../shared/`; from a git worktree, also beside the main checkout. */
const findTranscript = (): string | undefined => {
  const candidates = [join(ROOT, "..", "shared", RELATIVE)]
  const common = spawnSync("git", ["rev-parse", "--git-common-dir"], { cwd: ROOT, encoding: "utf8" })
  if (common.status === 0)
    candidates.push(join(dirname(resolve(ROOT, common.stdout.trim())), "..", "shared", RELATIVE))
  return candidates.find(existsSync)
}

/**
 * Differences that stay, by exchange note and field, with why.
 * - Node: a session's node is the agent's host name ("vm" there).
 */
const ACCEPTED: Record<string, string> = {
  "body.Node":
    "the agent's node name is its host's ('vm' when recorded); the double calls itself consul-double"
}

const HEADERS = [
  "Content-Type",
  "X-Consul-Index",
  "X-Consul-Knownleader",
  "X-Consul-Lastcontact",
  "X-Consul-Query-Backend",
  "X-Consul-Default-Acl-Policy"
]

interface Answer {
  readonly status: number
  readonly headers: Record<string, string | undefined>
  readonly body: string
}

const transcriptPath = findTranscript()
const present = gate(
  "the recorded Consul transcript",
  transcriptPath !== undefined,
  `../shared/${RELATIVE} beside the project root`
)

describe.skipIf(!present)("the Consul double against a recorded Consul 1.10.12", () => {
  const clock = new ManualClock()
  let double: ConsulDouble
  let exchanges: Array<Exchange>
  let measurement: Measurement
  beforeAll(async () => {
    const parsed = JSON.parse(readFileSync(transcriptPath!, "utf8")) as {
      exchanges: Array<Exchange | Measurement>
    }
    exchanges = parsed.exchanges.filter((e): e is Exchange => "request" in e)
    measurement = parsed.exchanges.find((e): e is Measurement => "measured_s" in e)!
    // The recorded agent's first write got index 14.
    double = await startConsulDouble({ clock, initialIndex: 13 })
  })
  afterAll(() => double?.close())

  /** Recorded session id → the double's. */
  const ids = new Map<string, string>()
  const mapIds = (text: string) => {
    let out = text
    for (const [recorded, ours] of ids) out = out.split(recorded).join(ours)
    return out
  }

  const call = async (exchange: Exchange): Promise<Answer> => {
    const { method, path, body } = exchange.request
    const res = await fetch(`${double.url}${mapIds(path)}`, {
      method,
      ...(body === null ? {} : { body: mapIds(body) })
    })
    const headers: Record<string, string | undefined> = {}
    for (const name of HEADERS) headers[name] = res.headers.get(name) ?? undefined
    return { status: res.status, headers, body: await res.text() }
  }

  /** Every difference between the recorded answer and ours, as `field: recorded | ours`. */
  const differences = (exchange: Exchange, ours: Answer): Array<string> => {
    const out: Array<string> = []
    const recorded = exchange.response
    const differ = (field: string, a: unknown, b: unknown) => {
      if (JSON.stringify(a) !== JSON.stringify(b) && ACCEPTED[field.replace(/\[\d+\]/g, "")] === undefined)
        out.push(`${field}: recorded ${JSON.stringify(a)} | double ${JSON.stringify(b)}`)
    }
    differ("status", recorded.status, ours.status)
    for (const name of HEADERS) differ(`header ${name}`, recorded.headers[name], ours.headers[name])
    if (recorded.json === null || typeof recorded.json !== "object") {
      // Text, or a JSON scalar (`true`): the dev agent pretty-prints, so compare values, not spacing.
      if (recorded.json === null) differ("body", recorded.body, ours.body)
      else differ("body", recorded.json, safeJson(ours.body))
      return out
    }
    compareJson("body", JSON.parse(mapIds(JSON.stringify(recorded.json))), safeJson(ours.body), differ)
    return out
  }

  const replay = async (i: number): Promise<Answer> => {
    const exchange = exchanges[i]!
    const blocking = /[?&]wait=([0-9]+)s/.exec(exchange.request.path)
    if (blocking === null) return call(exchange)
    const waitMs = Number(blocking[1]) * 1000
    const pending = call(exchange)
    await until(() => double.blocked === 1)
    // Timed out there: let the double's wait end. Woken there: the next exchange did it (see below).
    if (exchange.elapsed_ms >= waitMs) clock.advance(waitMs)
    return pending
  }

  it("every exchange answers as Consul did", async () => {
    const report: Array<string> = []
    for (let i = 0; i < exchanges.length; i++) {
      const exchange = exchanges[i]!
      const next = exchanges[i + 1]
      // A blocking query woken by this exchange was sent before it and recorded after it.
      const woken = next !== undefined && isWokenBy(next) ? replay(i + 1) : undefined
      if (woken !== undefined) await until(() => double.blocked === 1)
      const ours = await replay(i)
      learnIds(exchange, ours)
      for (const d of differences(exchange, ours)) report.push(`#${i} ${exchange.note}: ${d}`)
      if (woken !== undefined) {
        const answer = await woken
        for (const d of differences(next!, answer)) report.push(`#${i + 1} ${next!.note}: ${d}`)
        i++
      }
    }
    assert.deepStrictEqual(report, [], `the double differs from Consul 1.10.12:\n${report.join("\n")}`)
  })

  it("a never-renewed 10 s session's key goes at 2× TTL, as measured", async () => {
    const session = (await (
      await fetch(`${double.url}/v1/session/create`, {
        method: "PUT",
        body: JSON.stringify({ TTL: "10s", Behavior: "delete", LockDelay: "0s" })
      })
    ).json()) as { ID: string }
    await fetch(`${double.url}/v1/kv/expiry/t?acquire=${session.ID}`, { method: "PUT", body: "x" })
    const measuredMs = measurement.measured_s * 1000
    // The recording is a poll: the key went between 20 s and 20.15 s.
    clock.advance(19_999)
    assert.isDefined(double.get("expiry/t"), "still there just before 2× TTL")
    clock.advance(1)
    assert.isUndefined(double.get("expiry/t"), "gone at 2× TTL")
    assert.isAtLeast(measuredMs, 20_000)
    assert.isBelow(measuredMs - 20_000, 500, "the measurement is 2× TTL plus polling, not later")
  })

  function learnIds(exchange: Exchange, ours: Answer) {
    const recorded = exchange.response.json as { ID?: string } | null
    if (exchange.request.path !== "/v1/session/create" || typeof recorded?.ID !== "string") return
    const mine = safeJson(ours.body) as { ID?: string }
    if (typeof mine?.ID === "string") ids.set(recorded.ID, mine.ID)
  }
})

/** A blocking query that returned before its wait ended was woken by the exchange before it. */
const isWokenBy = (exchange: Exchange): boolean => {
  const wait = /[?&]wait=([0-9]+)s/.exec(exchange.request.path)
  return wait !== null && exchange.elapsed_ms < Number(wait[1]) * 1000
}

const safeJson = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

/** Field by field, so a report names `body[0].Value` and not the whole answer. */
const compareJson = (
  field: string,
  a: unknown,
  b: unknown,
  differ: (field: string, a: unknown, b: unknown) => void
): void => {
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return differ(`${field}.length`, a.length, b.length)
    a.forEach((x, i) => compareJson(`${field}[${i}]`, x, b[i], differ))
    return
  }
  if (isObject(a) && isObject(b)) {
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)]))
      compareJson(`${field}.${key}`, a[key], b[key], differ)
    return
  }
  differ(field, a, b)
}

const isObject = (x: unknown): x is Record<string, unknown> =>
  typeof x === "object" && x !== null && !Array.isArray(x)

/** Real I/O has to land: poll briefly (the double answers in-process). */
const until = async (condition: () => boolean) => {
  for (let i = 0; i < 600 && !condition(); i++) await new Promise((r) => setTimeout(r, 5))
  if (!condition()) throw new Error("the blocking query never reached the double")
}
