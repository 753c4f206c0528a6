/**
 * The admin API under `/v1/admin/`, behind `Authorization: Bearer <admin token>`:
 *
 *   GET    /v1/admin/status            totals, bounds, store health, the /metrics figures
 *   GET    /v1/admin/clusters          every cluster with live entries (full tokens: the caller is the operator)
 *   DELETE /v1/admin/clusters/{token}  removes the cluster's entries
 *
 * Off (404) when the server has no admin token; 401 without the right one.
 */
import { createHash, timingSafeEqual } from "node:crypto"
import { Clock, Effect, Either } from "effect"
import { redactToken } from "../../DiscoveryUrl.js"
import type { KvError } from "../../KvStore.js"
import * as Api from "../Api.js"
import type { Answer } from "../Api.js"
import type { Context } from "./Context.js"
import * as Figures from "./Figures.js"
import * as Registration from "./Registration.js"

const digest = (text: string) => createHash("sha256").update(text, "utf8").digest()

/**
 * Whether an `Authorization` header carries the admin token. Both sides are hashed first, so the
 * comparison takes the same time whatever the length or the first wrong byte.
 */
export const authorized = (expected: string, header: string | undefined): boolean => {
  const given = header === undefined ? "" : (/^Bearer +(.+)$/i.exec(header.trim())?.[1]?.trim() ?? "")
  return timingSafeEqual(digest(given), digest(expected)) && given !== ""
}

const json = (value: unknown, status = 200): Omit<Answer, "headers"> => ({
  status,
  contentType: "application/json; charset=utf-8",
  body: JSON.stringify(value),
  route: "admin"
})

const TOKEN = /^[0-9a-f]{32}$/

/** At most this many clusters in one answer, the most recently active first. */
export const MAX_LISTED = 500

interface ClusterRow {
  readonly token: string
  readonly cluster: string
  entries: number
  lastRegistration?: number
}

type Store = Context["store"]

/** Every cluster with live entries, the most recently registered first, and the total of entries. */
const listClusters = (store: Store) =>
  Effect.gen(function* () {
    const [snapshot, expiries] = yield* Effect.all(
      [store.list(""), store.expiries === undefined ? Effect.succeed(undefined) : store.expiries("")],
      { concurrency: 2 }
    )
    const byToken = new Map<string, ClusterRow>()
    let entries = 0
    for (const { key, value } of snapshot.pairs) {
      const slash = key.indexOf("/")
      const token = key.slice(0, slash)
      if (slash !== 32 || !TOKEN.test(token)) continue
      let row = byToken.get(token)
      if (row === undefined) byToken.set(token, (row = { token, cluster: redactToken(token), entries: 0 }))
      row.entries++
      entries++
      const at = Registration.member(value, expiries?.get(key)).registeredAt
      if (at !== undefined && (row.lastRegistration === undefined || at > row.lastRegistration))
        row.lastRegistration = at
    }
    const rows = [...byToken.values()].sort(
      (a, b) => (b.lastRegistration ?? 0) - (a.lastRegistration ?? 0) || b.entries - a.entries
    )
    return { rows, entries }
  })

/** Whether the store answers a list, and how long it took. */
const storeHealth = (store: Store) =>
  Effect.gen(function* () {
    const started = performance.now()
    const outcome = yield* Effect.either(store.list("\u0000health"))
    const ms = Math.round((performance.now() - started) * 100) / 100
    return Either.isRight(outcome) ? { ok: true, ms } : { ok: false, ms, error: outcome.left.reason }
  })

type Listed = Effect.Effect.Success<ReturnType<typeof listClusters>>

/** GET /v1/admin/status: totals, bounds, store health and the /metrics figures. */
const statusReport = (ctx: Context) => {
  const { config } = ctx
  return Effect.gen(function* () {
    const [stats, listed, store] = yield* Effect.all(
      [
        ctx.stats === undefined ? Effect.succeed(undefined) : Effect.option(ctx.stats),
        listClusters(ctx.store),
        storeHealth(ctx.store)
      ],
      { concurrency: "unbounded" }
    )
    const storeStats = stats === undefined || stats._tag === "None" ? undefined : stats.value
    const snapshot = ctx.metrics.snapshot(storeStats)
    const summary = Figures.summarize(snapshot)
    const now = yield* Clock.currentTimeMillis
    const fullest = listed.rows.reduce((n, r) => Math.max(n, r.entries), 0)
    return {
      now,
      startedAt: summary.startedAt,
      store,
      totals: { clusters: listed.rows.length, entries: listed.entries },
      bounds: [
        {
          name: "entries in the fullest cluster",
          flag: "--max-entries",
          used: fullest,
          limit: config.maxEntries
        },
        ...Figures.bounds(snapshot, { total_entries: listed.entries, clusters: listed.rows.length })
      ],
      ttl: { default: config.defaultTtl, min: config.minTtl, max: config.maxTtl },
      metrics: { ...summary, expirations: storeStats?.expirations ?? summary.expirations }
    }
  })
}

/** GET /v1/admin/clusters: at most MAX_LISTED rows, and whether more were left off. */
const clustersPage = (listed: Effect.Effect<Listed, KvError>) =>
  Effect.map(Effect.zip(listed, Clock.currentTimeMillis), ([{ rows }, now]) =>
    json({
      now,
      total: rows.length,
      truncated: rows.length > MAX_LISTED,
      clusters: rows.slice(0, MAX_LISTED)
    })
  )

/** DELETE /v1/admin/clusters/{token}: removes the cluster's entries and counts them as deregistered. */
const deleteCluster = (ctx: Context, token: string) =>
  Effect.map(ctx.store.deletePrefix(`${token}/`), (deleted) => {
    ctx.metrics.deregistered(deleted)
    return json({ cluster: redactToken(token), deleted })
  })

const refuse = (status: number, message: string): Omit<Answer, "headers"> => ({
  ...Api.error(status, message),
  route: "admin"
})

export const make = (ctx: Context) => {
  const clusters = listClusters(ctx.store)
  const status = statusReport(ctx)
  const problem = (error: KvError) => ctx.storeProblem("admin", error)

  /** `path` is below `/v1/admin/`; the caller has checked the token. */
  const handle = (method: string, path: string): Effect.Effect<Omit<Answer, "headers">> => {
    const isGet = method === "GET" || method === "HEAD"
    if (path === "status") {
      if (!isGet) return Effect.succeed(refuse(405, "use GET /v1/admin/status"))
      return Effect.catchAll(
        Effect.map(status, (s) => json(s)),
        problem
      )
    }
    if (path === "clusters") {
      if (!isGet) return Effect.succeed(refuse(405, "use GET /v1/admin/clusters"))
      return Effect.catchAll(clustersPage(clusters), problem)
    }
    if (path.startsWith("clusters/")) {
      const token = path.slice("clusters/".length).toLowerCase()
      if (!TOKEN.test(token))
        return Effect.succeed(
          refuse(400, `invalid cluster token ${Api.show(token)}: expected 32 hexadecimal characters`)
        )
      if (method !== "DELETE") return Effect.succeed(refuse(405, "use DELETE /v1/admin/clusters/{token}"))
      return Effect.catchAll(deleteCluster(ctx, token), problem)
    }
    return Effect.succeed(
      refuse(404, `no such admin route ${Api.show(path)}; try /v1/admin/status or /v1/admin/clusters`)
    )
  }

  return { handle }
}
