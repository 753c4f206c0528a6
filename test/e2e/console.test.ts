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

afterAll(async () => {
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

/** A page that records Content-Security-Policy violations and script errors. */
const open = async (url: string) => {
  const page = await browser.newPage({ viewport: { width: 1100, height: 760 } })
  const problems: Array<string> = []
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`))
  page.on("console", (message) => {
    if (message.type() === "error" && !/Failed to load resource/.test(message.text()))
      problems.push(`console: ${message.text()}`)
  })
  await page.goto(url)
  return { page, problems }
}

const rowCount = (page: Page) => page.locator("#members tbody tr").count()

describe.skipIf(!haveChromium)("web console in Chromium", () => {
  it("cluster page: members, a registration within 1 s without reload, an expiry, an outage", async () => {
    const token = (await api("POST", "/v1/clusters")).text
    await register(token, "10.0.0.1:2375", 300)
    await register(token, "10.0.0.2:2375", 120)
    const { page, problems } = await open(`${origin}/ui/clusters/${token}`)
    await page.locator('tr[data-address="10.0.0.2:2375"]').waitFor()
    assert.strictEqual(await rowCount(page), 2)
    const first = page.locator('tr[data-address="10.0.0.1:2375"] td')
    assert.match((await first.nth(1).textContent())!, /^[0-9]+s ago$/)
    // Time left, rounded to the second: 5m 00s right after the registration, a little less once time has passed.
    const left = /^([0-9]+)m ([0-9]{2})s$/.exec((await first.nth(2).textContent())!)
    assert.isNotNull(left)
    const leftSeconds = Number(left![1]) * 60 + Number(left![2])
    assert.isAtMost(leftSeconds, 300)
    assert.isAtLeast(leftSeconds, 290)
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
})
