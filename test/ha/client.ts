/**
 * The load of the fault-injection suite, run inside the lab's client
 * namespace (`node --import tsx client.ts <config json>`): logical clients
 * that register, heartbeat, delete and list entries through random serve
 * instances, and long-poll one instance each, writing every operation to
 * the history file as one JSON line. On SIGTERM each client finishes the
 * operation it is in, then every cluster is listed once through every
 * instance, and the process exits.
 */
import { writeSync, openSync } from "node:fs"
import { request } from "../support/http.js"
import type { Op, OpKind, Outcome } from "./history.js"

export interface ClientConfig {
  /** Instance name -> origin. */
  readonly instances: Readonly<Record<string, string>>
  readonly clusters: ReadonlyArray<string>
  readonly clients: number
  readonly ttlSeconds: number
  readonly waitMs: number
  readonly out: string
  readonly seed: number
}

const config = JSON.parse(process.argv[2]!) as ClientConfig
const out = openSync(config.out, "a")
const names = Object.keys(config.instances)
const now = () => performance.timeOrigin + performance.now()
let stopping = false
process.once("SIGTERM", () => {
  stopping = true
})

// A small deterministic generator, so a run's choices can be replayed from its seed.
let state = config.seed >>> 0 || 1
const random = () => {
  state ^= state << 13
  state ^= state >>> 17
  state ^= state << 5
  return (state >>> 0) / 0x100000000
}
const pick = <A>(items: ReadonlyArray<A>): A => items[Math.floor(random() * items.length)]!
const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

const record = (op: Op) => writeSync(out, JSON.stringify(op) + "\n")

const outcomeOf = (status: number): Outcome => (status === 200 ? "ok" : status < 500 ? "fail" : "unknown")

interface Call {
  readonly client: number
  readonly kind: OpKind
  readonly instance: string
  readonly cluster: string
  readonly method: string
  readonly path: string
  readonly body?: string
  readonly limitMs: number
  readonly extra?: Partial<Op>
}

/** One HTTP request, recorded with its outcome; returns the record. */
const call = async (c: Call): Promise<Op> => {
  const invokedAt = now()
  const base = { client: c.client, kind: c.kind, instance: c.instance, cluster: c.cluster, ...c.extra }
  const signal = AbortSignal.timeout(c.limitMs)
  try {
    const reply = await request(config.instances[c.instance]!, c.path, {
      method: c.method,
      ...(c.body === undefined ? {} : { body: c.body }),
      signal
    })
    const completedAt = now()
    const retryAfter = reply.headers["retry-after"]
    const index = reply.headers["x-discovery-index"]
    const op: Op = {
      ...base,
      invokedAt,
      completedAt,
      outcome: outcomeOf(reply.status),
      status: reply.status,
      ...(typeof retryAfter === "string" ? { retryAfter } : {}),
      ...(reply.status === 200 && typeof index === "string" ? { index: Number(index) } : {}),
      ...(reply.status === 200 && c.method === "GET"
        ? { entries: JSON.parse(reply.body) as Array<string> }
        : {})
    }
    record(op)
    return op
  } catch (error) {
    const op: Op = {
      ...base,
      invokedAt,
      completedAt: now(),
      outcome: "unknown",
      error: signal.aborted ? "timeout" : ((error as NodeJS.ErrnoException).code ?? String(error)),
      ...(signal.aborted ? { timedOut: true } : {})
    }
    record(op)
    return op
  }
}

const WRITE_LIMIT_MS = 25_000

const writer = async (client: number) => {
  const cluster = config.clusters[client % config.clusters.length]!
  const live: Array<string> = []
  let made = 0
  const post = (kind: OpKind, address: string) =>
    call({
      client,
      kind,
      instance: pick(names),
      cluster,
      method: "POST",
      path: `/v1/clusters/${cluster}?ttl=${config.ttlSeconds}`,
      body: address,
      limitMs: WRITE_LIMIT_MS,
      extra: { address, ttl: config.ttlSeconds }
    })
  while (!stopping) {
    const roll = random()
    if (live.length < 3 || (roll < 0.2 && live.length < 8)) {
      made++
      const address = `10.${client + 1}.${Math.floor(made / 250)}.${(made % 250) + 1}:2375`
      live.push(address)
      await post("register", address)
    } else if (roll < 0.55) {
      await post("refresh", pick(live))
    } else if (roll < 0.65) {
      const address = live.splice(Math.floor(random() * live.length), 1)[0]!
      await call({
        client,
        kind: "delete",
        instance: pick(names),
        cluster,
        method: "DELETE",
        path: `/v1/clusters/${cluster}/${encodeURIComponent(address)}`,
        limitMs: WRITE_LIMIT_MS,
        extra: { address }
      })
    } else if (roll < 0.7) {
      // Abandoned: never written again, it must expire.
      live.splice(Math.floor(random() * live.length), 1)
    } else {
      await list(client, cluster, pick(names))
    }
    await pause(30 + random() * 70)
  }
}

const list = (client: number, cluster: string, instance: string) =>
  call({
    client,
    kind: "list",
    instance,
    cluster,
    method: "GET",
    path: `/v1/clusters/${cluster}`,
    limitMs: WRITE_LIMIT_MS
  })

/** Long-polls one instance: each answer's index is the next request's. */
const poller = async (client: number) => {
  const cluster = config.clusters[client % config.clusters.length]!
  const instance = names[client % names.length]!
  let index: number | undefined
  while (!stopping) {
    if (index === undefined) {
      const op = await list(client, cluster, instance)
      index = op.index
      if (index === undefined) await pause(200)
      continue
    }
    const op = await call({
      client,
      kind: "poll",
      instance,
      cluster,
      method: "GET",
      path: `/v1/clusters/${cluster}?index=${index}&wait=${config.waitMs}ms`,
      limitMs: config.waitMs + 15_000,
      extra: { sentIndex: index, waitMs: config.waitMs }
    })
    if (op.index !== undefined) index = op.index
    else await pause(200)
  }
}

const main = async () => {
  const clients = Array.from({ length: config.clients }, (_, i) => i)
  await Promise.all(clients.flatMap((client) => [writer(client), poller(client)]))
  // Every cluster through every instance, once all load has stopped.
  await Promise.all(
    config.clusters.flatMap((cluster) => names.map((instance) => list(-1, cluster, instance)))
  )
}

void main().then(
  () => process.exit(0),
  (error) => {
    console.error(error)
    process.exit(1)
  }
)
