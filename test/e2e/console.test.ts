/**
 * The web console in a real browser: headless Chromium (the system's, driven by playwright-core)
 * against a real `swarm serve` (dist/swarm.cjs, SQLite in a temp dir, a free loopback port).
 * Screenshots of both pages go to test/e2e/artifacts/ (not committed).
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { type Browser, chromium, type Page } from "playwright-core"
import { spawnSwarm, stopAll, type SwarmProcess } from "../support/cli.js"
import { CHROMIUM, gates } from "../support/gate.js"
import { freePort } from "../support/net.js"

const ARTIFACTS = join(import.meta.dirname, "artifacts")
const ADMIN = "e2e-admin-token-0123456789"
const haveChromium = gates.chromium()

const dirs: Array<string> = []
let browser: Browser
let server: SwarmProcess
let port: number
let origin: string
let dataDir: string

const serve = async () => {
  server = spawnSwarm(["serve", "--listen", `127.0.0.1:${port}`, "--data-dir", dataDir, "--min-ttl", "1s"], {
    env: { SWARM_ADMIN_TOKEN: ADMIN }
  })
  await server.waitForLine("stderr", "operator overview:", { timeoutMs: 20_000 })
}

beforeAll(async () => {
  if (!haveChromium) return
  mkdirSync(ARTIFACTS, { recursive: true })
  dataDir = mkdtempSync(join(tmpdir(), "swarm-console-"))
  dirs.push(dataDir)
  port = await freePort()
  origin = `http://127.0.0.1:${port}`
  await serve()
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync"
    ]
  })
})

/** Each page's context, closing after its page: awaited before the browser goes (else it rejects, unhandled). */
const closing: Array<Promise<void>> = []

afterAll(async () => {
  await Promise.all(closing)
  await browser?.close()
  await stopAll()
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

const api = async (method: string, path: string, body?: string, headers: Record<string, string> = {}) => {
  const res = await fetch(`${origin}${path}`, { method, headers, ...(body === undefined ? {} : { body }) })
  return { status: res.status, text: await res.text(), headers: res.headers }
}

const register = (token: string, address: string, ttl: number) =>
  api("POST", `/v1/clusters/${token}?ttl=${ttl}`, address).then((r) =>
    assert.strictEqual(r.status, 200, r.text)
  )

/** A page that records Content-Security-Policy violations, script errors and answers of 400 or more. */
const open = async (url: string, options: { readonly clipboard?: boolean } = {}) => {
  const context = await browser.newContext({
    viewport: { width: 1100, height: 760 },
    ...(options.clipboard ? { permissions: ["clipboard-read", "clipboard-write"] } : {})
  })
  const page = await context.newPage()
  page.once("close", () => closing.push(context.close()))
  const problems: Array<string> = []
  const failed: Array<string> = []
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`))
  page.on("console", (message) => {
    if (message.type() === "error" && !/Failed to load resource/.test(message.text()))
      problems.push(`console: ${message.text()}`)
  })
  page.on("response", (response) => {
    if (response.status() >= 400) failed.push(`${response.status()} ${new URL(response.url()).pathname}`)
  })
  const response = await page.goto(url)
  return { page, problems, failed, response }
}

const rowCount = (page: Page) => page.locator("#members tbody tr").count()

describe.skipIf(!haveChromium)("web console in Chromium", () => {
  it("cluster page: members, a registration within 1 s without reload, an expiry, an outage", async () => {
    const token = (await api("POST", "/v1/clusters")).text
    const registeredAt = performance.now()
    await register(token, "10.0.0.1:2375", 300)
    await register(token, "10.0.0.2:2375", 120)
    const { page, problems } = await open(`${origin}/ui/clusters/${token}`)
    await page.locator('tr[data-address="10.0.0.2:2375"]').waitFor()
    assert.strictEqual(await rowCount(page), 2)
    const first = page.locator('tr[data-address="10.0.0.1:2375"] td')
    assert.match((await first.nth(1).textContent())!, /^[0-9]+s ago$/)
    // Time left, rounded to the second: 5m 00s right after the registration, less by the time that has passed
    // since (measured here, so a slow page load on a busy machine does not read as a wrong countdown).
    const left = /^([0-9]+)m ([0-9]{2})s$/.exec((await first.nth(2).textContent())!)
    const elapsedSeconds = (performance.now() - registeredAt) / 1000
    assert.isNotNull(left)
    const leftSeconds = Number(left![1]) * 60 + Number(left![2])
    assert.isAtMost(leftSeconds, 300)
    assert.isAtLeast(leftSeconds, Math.floor(300 - elapsedSeconds) - 1)
    assert.strictEqual(await first.nth(3).textContent(), "5m 00s")
    const index = (await api("GET", `/v1/clusters/${token}`)).headers.get("X-Discovery-Index")
    assert.strictEqual(await page.locator("#index").textContent(), index)

    // A marker that a reload would lose.
    await page.evaluate("window.marker = 42")
    const started = performance.now()
    await register(token, "10.0.0.3:2375", 2)
    await page.locator('tr[data-address="10.0.0.3:2375"]').waitFor({ timeout: 5_000 })
    const shown = performance.now() - started
    console.log(`console e2e: a registration appeared on the page ${shown.toFixed(0)} ms after its 200`)
    assert.isBelow(shown, 1000)
    assert.strictEqual(await page.evaluate("window.marker"), 42)
    await page.locator('#changes li[data-kind="join"]', { hasText: "10.0.0.3:2375" }).waitFor()
    await page.screenshot({ path: join(ARTIFACTS, "cluster.png"), fullPage: true })

    // Its 2 s TTL runs out: it leaves the table and the changes say it expired.
    await page.locator('tr[data-address="10.0.0.3:2375"]').waitFor({ state: "detached", timeout: 6_000 })
    await page.locator('#changes li[data-kind="expire"]', { hasText: "10.0.0.3:2375" }).waitFor()
    assert.strictEqual(await rowCount(page), 2)

    // A leave is a leave, not an expiry.
    assert.strictEqual((await api("DELETE", `/v1/clusters/${token}/10.0.0.2%3A2375`)).status, 200)
    await page
      .locator('#changes li[data-kind="leave"]', { hasText: "10.0.0.2:2375" })
      .waitFor({ timeout: 2_000 })

    // The server goes away: the page says so; it comes back (same data dir): the page recovers.
    server.kill("SIGKILL")
    await server.exited
    await page.locator("#status.down").waitFor({ timeout: 10_000 })
    assert.include(await page.locator("#status").textContent(), "unreachable")
    await page.screenshot({ path: join(ARTIFACTS, "cluster-offline.png") })
    await serve()
    await page.locator("#status.live").waitFor({ timeout: 10_000 })
    await register(token, "10.0.0.4:2375", 300)
    await page.locator('tr[data-address="10.0.0.4:2375"]').waitFor({ timeout: 5_000 })
    assert.deepStrictEqual(problems, [])
    await page.close()
  })

  it("cluster page with the cluster's read-only token: the same members, live, and no write token", async () => {
    const token = (await api("POST", "/v1/clusters")).text
    await register(token, "10.2.0.1:2375", 300)
    const read = await api("POST", `/v1/clusters/${token}/read-token`)
    assert.strictEqual(read.status, 200, read.text)
    const { page, problems } = await open(`${origin}/ui/clusters/${read.text}`)
    await page.locator('tr[data-address="10.2.0.1:2375"]').waitFor()
    assert.strictEqual(await page.locator("#access").textContent(), "read-only token")
    await register(token, "10.2.0.2:2375", 300)
    await page.locator('tr[data-address="10.2.0.2:2375"]').waitFor({ timeout: 2_000 })
    const data = await api("GET", `/ui/api/clusters/${read.text}`)
    assert.notInclude(data.text, token)
    assert.deepStrictEqual(problems, [])
    await page.close()
  })

  it("overview: refuses a wrong admin token, shows the clusters with the right one, deletes one", async () => {
    const token = (await api("POST", "/v1/clusters")).text
    await register(token, "10.1.0.1:2375", 300)
    await register(token, "10.1.0.2:2375", 300)
    const { page, problems } = await open(`${origin}/ui/`)
    await page.locator("#token").fill("not-the-admin-token")
    await page.locator("#login-form button").click()
    await page.locator("#login-error", { hasText: "refused" }).waitFor()
    assert.isTrue(await page.locator("#app").isHidden())
    assert.isNull(await page.evaluate('sessionStorage.getItem("swarm-admin-token")'))

    await page.locator("#token").fill(ADMIN)
    await page.locator("#login-form button").click()
    const row = page.locator(`tr[data-cluster="${token.slice(0, 4)}…"]`)
    await row.waitFor()
    assert.strictEqual(await row.locator("td").nth(1).textContent(), "2")
    // The full token is in the link only, never shown.
    assert.strictEqual(await row.locator("a").textContent(), `${token.slice(0, 4)}…`)
    assert.notInclude(await page.locator("main").innerText(), token)
    assert.match((await page.locator('[data-figure="store"] dd').textContent())!, /^ok/)
    await page.locator("#bounds tbody tr", { hasText: "--max-entries" }).waitFor()
    await page.locator("#bounds tbody tr", { hasText: "--max-total-entries" }).waitFor()
    await page.screenshot({ path: join(ARTIFACTS, "overview.png"), fullPage: true })

    // Kept for this tab: a reload does not ask again.
    await page.reload()
    await row.waitFor()

    // Open the cluster's page from the overview.
    const href = await row.locator("a").getAttribute("href")
    assert.strictEqual(href, `/ui/clusters/${token}`)

    // Delete, after a confirmation.
    let asked = ""
    page.once("dialog", (dialog) => {
      asked = dialog.message()
      void dialog.accept()
    })
    await row.locator("button", { hasText: "Delete" }).click()
    await row.waitFor({ state: "detached", timeout: 5_000 })
    assert.include(asked, `${token.slice(0, 4)}…`)
    assert.strictEqual((await api("GET", `/v1/clusters/${token}`)).text, "[]")
    assert.deepStrictEqual(problems, [])
    await page.close()
  })

  it("favicon: hashed, SVG, under the same CSP; no page load asks for /favicon.ico or gets a 4xx", async () => {
    const token = (await api("POST", "/v1/clusters")).text
    const { page, problems, failed } = await open(`${origin}/ui/clusters/${token}`)
    await page.locator("#status.live").waitFor()
    const href = await page.locator('link[rel="icon"]').getAttribute("href")
    assert.match(href!, /^\/ui\/assets\/icon\.[0-9a-f]{12}\.svg$/)
    const icon = await api("GET", href!)
    assert.strictEqual(icon.status, 200)
    assert.strictEqual(icon.headers.get("content-type"), "image/svg+xml")
    assert.include(icon.headers.get("content-security-policy"), "default-src 'none'")
    assert.include(icon.headers.get("cache-control"), "immutable")
    assert.include(icon.text, "<svg")
    assert.deepStrictEqual(failed, [])
    assert.deepStrictEqual(problems, [])
    await page.close()
  })

  it("a malformed token gets a styled page that says why, with a link back to the overview", async () => {
    const { page, problems, response } = await open(`${origin}/ui/clusters/not-a-token`)
    assert.strictEqual(response!.status(), 400)
    assert.match(response!.headers()["content-type"]!, /^text\/html/)
    assert.include(
      await page.locator("#problem-message").textContent(),
      'invalid cluster token "not-a-token"'
    )
    // The stylesheet applies (a plain-text answer would have no section, no panel colour).
    const background = await page.evaluate<string>(
      'getComputedStyle(document.querySelector("section")).backgroundColor'
    )
    assert.match(background, /^rgb/)
    assert.notStrictEqual(background, "rgba(0, 0, 0, 0)")
    await page.screenshot({ path: join(ARTIFACTS, "bad-token.png") })
    await page.locator("#back").click()
    await page.locator("#login-form").waitFor()
    assert.strictEqual(new URL(page.url()).pathname, "/ui/")
    assert.deepStrictEqual(problems, [])
    await page.close()
  })

  it("cluster page: a link to the overview, the token shortened and readable, a copy button", async () => {
    const token = (await api("POST", "/v1/clusters")).text
    const { page, problems } = await open(`${origin}/ui/clusters/${token}`, { clipboard: true })
    await page.locator("#status.live").waitFor()
    assert.strictEqual(await page.locator("#to-overview").getAttribute("href"), "/ui/")
    assert.strictEqual(await page.locator("#cluster").textContent(), `${token.slice(0, 4)}…`)
    const size = await page.evaluate<number>(
      'parseFloat(getComputedStyle(document.getElementById("cluster")).fontSize)'
    )
    assert.isAtLeast(size, 16)
    assert.notInclude(await page.locator("body").innerText(), token)
    await page.locator("#copy").click()
    await page.locator("#copy", { hasText: "Copied" }).waitFor()
    assert.strictEqual(await page.evaluate("navigator.clipboard.readText()"), token)
    assert.deepStrictEqual(problems, [])
    await page.close()
  })

  it("column widths stay put: an empty cluster's table and one with a long address have the same columns", async () => {
    const token = (await api("POST", "/v1/clusters")).text
    const { page, problems } = await open(`${origin}/ui/clusters/${token}`)
    await page.locator("#empty").waitFor()
    const widths = () =>
      page
        .locator("#members thead th")
        .evaluateAll((ths) => ths.map((th) => th.getBoundingClientRect().width))
    const empty = await widths()
    await register(
      token,
      "a-rather-long-host-name.rack-17.row-b.datacenter-eu-west-1.example.internal:2375",
      300
    )
    await page.locator("#members tbody tr").waitFor()
    const full = await widths()
    assert.strictEqual(full.length, 4)
    full.forEach((w, i) => assert.approximately(w, empty[i]!, 1, `column ${i}: ${empty[i]} then ${w}`))
    assert.deepStrictEqual(problems, [])
    await page.close()
  })

  it("overview: sections apart; a long-poll's wait apart from latency; store red and Delete off while down", async () => {
    const token = (await api("POST", "/v1/clusters")).text
    await register(token, "10.3.0.1:2375", 300)
    // A long-poll that waits its whole second: waiting, not latency.
    const index = (await api("GET", `/v1/clusters/${token}`)).headers.get("X-Discovery-Index")
    assert.strictEqual((await api("GET", `/v1/clusters/${token}?index=${index}&wait=1s`)).status, 200)
    const { page, problems } = await open(`${origin}/ui/`)
    await page.locator("#token").fill(ADMIN)
    await page.locator("#login-form button").click()
    const row = page.locator(`tr[data-cluster="${token.slice(0, 4)}…"]`)
    await row.waitFor()

    const boxes = await page
      .locator("#app > section")
      .evaluateAll((s) => s.map((e) => e.getBoundingClientRect()))
    assert.isAtLeast(boxes.length, 4)
    for (let i = 1; i < boxes.length; i++)
      assert.isAtLeast(boxes[i]!.top - boxes[i - 1]!.bottom, 12, `gap ${i}`)

    const cells = (route: string) =>
      page
        .locator(`#routes tr[data-route="${route}"] td`)
        .evaluateAll((tds) => tds.map((td) => td.textContent))
    const watch = await cells("watch")
    assert.strictEqual(watch[4], "–", "a long-poll has no latency figure")
    assert.isAtLeast(parseFloat(watch[5]!), 1, `its wait: ${watch[5]}`)
    const registers = await cells("register")
    assert.match(registers[4]!, / ms$/)
    assert.strictEqual(registers[5], "–")
    assert.isFalse(await row.locator("button.danger").isDisabled())

    server.kill("SIGKILL")
    await server.exited
    await page.locator('[data-figure="store"].bad').waitFor({ timeout: 10_000 })
    assert.strictEqual(await page.locator('[data-figure="store"] dd').textContent(), "unreachable")
    assert.isTrue(await row.locator("button.danger").isDisabled())
    await page.screenshot({ path: join(ARTIFACTS, "overview-offline.png"), fullPage: true })
    await serve()
    await page.locator("#status.live").waitFor({ timeout: 10_000 })
    assert.match((await page.locator('[data-figure="store"] dd').textContent())!, /^ok/)
    assert.isFalse(await row.locator("button.danger").isDisabled())
    assert.deepStrictEqual(problems, [])
    await page.close()
  })
})
