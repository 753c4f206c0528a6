/**
 * The console's static files, compiled into the CLI bundle as strings (nothing is fetched from
 * elsewhere). Scripts and the stylesheet are served under content-hashed names, cached for a year;
 * the pages themselves are revalidated on every load. Every answer carries a Content-Security-Policy
 * that allows this server only: no inline script or style, no other origin.
 */
import { createHash } from "node:crypto"
import * as Cluster from "./static/cluster.js"
import * as Favicon from "./static/favicon.js"
import * as Overview from "./static/overview.js"
import * as Pages from "./static/pages.js"
import * as Style from "./static/style.js"

export const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
  "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

/** Headers for every console answer, pages, files and JSON alike. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "Content-Security-Policy": CSP,
  "X-Content-Type-Options": "nosniff",
  // The token is in the page's URL: never send it to anyone as a Referer.
  "Referrer-Policy": "no-referrer",
  "X-Frame-Options": "DENY"
}

export interface Asset {
  readonly path: string
  readonly contentType: string
  readonly body: string
  readonly cacheControl: string
}

const IMMUTABLE = "public, max-age=31536000, immutable"
const REVALIDATE = "no-cache"

const hashed = (name: string, ext: string, contentType: string, body: string): Asset => ({
  path: `/ui/assets/${name}.${createHash("sha256").update(body).digest("hex").slice(0, 12)}.${ext}`,
  contentType,
  body,
  cacheControl: IMMUTABLE
})

export const style = hashed("console", "css", "text/css; charset=utf-8", Style.css)
export const clusterScript = hashed("cluster", "js", "text/javascript; charset=utf-8", Cluster.script)
export const overviewScript = hashed("overview", "js", "text/javascript; charset=utf-8", Overview.script)
export const icon = hashed("icon", "svg", "image/svg+xml", Favicon.svg)
const pageFiles: Pages.Files = { css: style.path, icon: icon.path }

const HTML = "text/html; charset=utf-8"
export const clusterPage: Omit<Asset, "path"> = {
  contentType: HTML,
  body: Pages.cluster(pageFiles, clusterScript.path),
  cacheControl: REVALIDATE
}
export const overviewPage: Omit<Asset, "path"> = {
  contentType: HTML,
  body: Pages.overview(pageFiles, overviewScript.path),
  cacheControl: REVALIDATE
}

/** A page that says why the console cannot show what was asked (HTML, with the way back). */
export const problemPage = (status: number, message: string): Omit<Asset, "path"> => ({
  contentType: HTML,
  body: Pages.problem(pageFiles, status, message),
  cacheControl: REVALIDATE
})

/** The hashed files by path. */
export const files: ReadonlyMap<string, Asset> = new Map(
  [style, clusterScript, overviewScript, icon].map((a) => [a.path, a])
)

/** Bytes a first visit downloads, per page (HTML + stylesheet + script), uncompressed. */
export const weight = {
  cluster: [clusterPage.body, style.body, clusterScript.body, icon.body].reduce(
    (n, s) => n + Buffer.byteLength(s),
    0
  ),
  overview: [overviewPage.body, style.body, overviewScript.body, icon.body].reduce(
    (n, s) => n + Buffer.byteLength(s),
    0
  )
}
