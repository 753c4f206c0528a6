/**
 * The web console inside `swarm serve`:
 *
 *   GET /ui/                        the operator overview (only with an admin token; else 404)
 *   GET /ui/clusters/{token}        one cluster's live page (the token in the URL is the capability)
 *   GET /ui/api/clusters/{token}    its members with registration times and deadlines (JSON)
 *   GET /ui/assets/{name}.{hash}.*  the stylesheet and scripts, cached for good
 *   /v1/admin/...                   the admin API (`Admin.ts`)
 *
 * Every answer carries the console's security headers (`Assets.SECURITY_HEADERS`).
 */
import { Clock, Effect } from "effect"
import * as Api from "../Api.js"
import type { Answer } from "../Api.js"
import * as Admin from "./Admin.js"
import * as Assets from "./Assets.js"
import type { Context } from "./Context.js"
import * as Registration from "./Registration.js"

export type { Context } from "./Context.js"

/** Whether a request path belongs to the console. */
export const owns = (url: string): boolean =>
  url === "/ui" ||
  url.startsWith("/ui/") ||
  url.startsWith("/ui?") ||
  url === "/v1/admin" ||
  url.startsWith("/v1/admin/")

const TOKEN = /^[0-9a-fA-F]{32}$/

const OFF =
  "the operator overview is off: start swarm serve with SWARM_ADMIN_TOKEN=<secret> or --admin-token-file <file> to turn it on"

export interface Console {
  readonly handle: (method: string, url: string, authorization: string | undefined) => Effect.Effect<Answer>
}

type Unsecured = Omit<Answer, "headers"> & { readonly headers?: Readonly<Record<string, string>> }

/** Adds the console's security headers; an answer's own headers win. */
const secure = (answer: Unsecured): Answer => ({
  ...answer,
  headers: { ...Assets.SECURITY_HEADERS, "Cache-Control": "no-store", ...answer.headers }
})

const file = (asset: Omit<Assets.Asset, "path">, status = 200): Answer =>
  secure({
    status,
    contentType: asset.contentType,
    body: asset.body,
    route: "console",
    headers: { "Cache-Control": asset.cacheControl }
  })

const refuse = (status: number, message: string, route: Api.RouteName, headers?: Record<string, string>) =>
  secure({ ...Api.error(status, message), route, ...(headers === undefined ? {} : { headers }) })

/** GET /ui/api/clusters/{token}: a read-only token reads the same members; the answer never names the cluster's own token. */
const members = (ctx: Context) => {
  const resolve = (token: string) =>
    ctx.resolve === undefined ? Effect.succeed({ cluster: token, readOnly: false }) : ctx.resolve(token)
  return (token: string): Effect.Effect<Answer> =>
    Effect.flatMap(resolve(token), ({ cluster, readOnly }) =>
      Effect.all(
        [
          ctx.store.list(`${cluster}/`),
          ctx.store.expiries === undefined ? Effect.succeed(undefined) : ctx.store.expiries(`${cluster}/`),
          // The store's clock, so deadlines and "now" agree (and TestClock drives both).
          Clock.currentTimeMillis,
          Effect.succeed(readOnly)
        ],
        { concurrency: 2 }
      )
    ).pipe(
      Effect.map(([snapshot, expiries, now, readOnly]) =>
        secure({
          status: 200,
          contentType: "application/json; charset=utf-8",
          body: JSON.stringify({
            index: snapshot.index,
            now,
            readOnly,
            members: snapshot.pairs.map((p) => Registration.member(p.value, expiries?.get(p.key)))
          }),
          route: "console",
          headers: { [Api.INDEX_HEADER]: String(snapshot.index) }
        })
      ),
      Effect.catchAll((error) => Effect.map(ctx.storeProblem("console", error), secure))
    )
}

/** /v1/admin/...: 404 while no admin token is set, 401 without it, else the admin API. */
const adminRoutes = (ctx: Context, adminToken: string | undefined) => {
  const admin = Admin.make(ctx)
  return (method: string, path: string, authorization: string | undefined): Effect.Effect<Answer> => {
    if (adminToken === undefined) return Effect.succeed(refuse(404, OFF, "admin"))
    if (!Admin.authorized(adminToken, authorization)) {
      return Effect.succeed(
        refuse(401, "the admin API needs Authorization: Bearer <the server's admin token>", "admin", {
          "WWW-Authenticate": 'Bearer realm="swarm serve admin"'
        })
      )
    }
    return Effect.map(admin.handle(method, path.slice("/v1/admin/".length)), secure)
  }
}

/** The cluster page and its JSON, both keyed by a token in the path; undefined when the path is neither. */
const clusterRoute = (
  path: string,
  members: (token: string) => Effect.Effect<Answer>
): Effect.Effect<Answer> | undefined => {
  for (const [prefix, page] of [
    ["/ui/clusters/", true],
    ["/ui/api/clusters/", false]
  ] as const) {
    if (!path.startsWith(prefix)) continue
    const token = path.slice(prefix.length).replace(/\/$/, "")
    if (!TOKEN.test(token)) {
      const message = `invalid cluster token ${Api.show(token)}: expected 32 hexadecimal characters, as returned by POST /v1/clusters`
      // A person opened the page: answer in HTML, with the way back; scripts get the plain-text error.
      return Effect.succeed(
        page ? file(Assets.problemPage(400, message), 400) : refuse(400, message, "console")
      )
    }
    return page ? Effect.succeed(file(Assets.clusterPage)) : members(token.toLowerCase())
  }
  return undefined
}

/** The console's pages, assets and page API (GET and HEAD only). */
const pageRoutes =
  (adminToken: string | undefined, members: (token: string) => Effect.Effect<Answer>) =>
  (method: string, path: string): Effect.Effect<Answer> => {
    if (method !== "GET" && method !== "HEAD")
      return Effect.succeed(refuse(405, "the console only answers GET", "console", { Allow: "GET, HEAD" }))

    if (path === "/ui" || path === "/ui/" || path === "/ui/index.html")
      return Effect.succeed(
        adminToken === undefined ? file(Assets.problemPage(404, OFF), 404) : file(Assets.overviewPage)
      )

    const asset = Assets.files.get(path)
    if (asset !== undefined) return Effect.succeed(file(asset))

    const cluster = clusterRoute(path, members)
    if (cluster !== undefined) return cluster
    const unknown = `no such console page ${Api.show(path)}; open /ui/clusters/{token} or /ui/`
    return Effect.succeed(
      path.startsWith("/ui/api/")
        ? refuse(404, unknown, "console")
        : file(Assets.problemPage(404, unknown), 404)
    )
  }

export const make = (ctx: Context): Console => {
  const adminToken = ctx.adminToken === undefined || ctx.adminToken === "" ? undefined : ctx.adminToken
  const admin = adminRoutes(ctx, adminToken)
  const pages = pageRoutes(adminToken, members(ctx))

  const handle = (method: string, url: string, authorization: string | undefined): Effect.Effect<Answer> => {
    const q = url.indexOf("?")
    const path = q < 0 ? url : url.slice(0, q)
    return path === "/v1/admin" || path.startsWith("/v1/admin/")
      ? admin(method, path, authorization)
      : pages(method, path)
  }

  return { handle }
}
