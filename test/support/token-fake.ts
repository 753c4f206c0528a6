/**
 * A small fake of the Hub v1 API for the `token://` client's tests: real HTTP
 * on 127.0.0.1, a record of every request, answers that a test can override
 * (or hold forever), long-polls held until a change, and helpers to drive
 * Effect's TestClock once the client waits on it.
 */
import { readFileSync } from "node:fs"
import * as Http from "node:http"
import * as Https from "node:https"
import type { AddressInfo } from "node:net"
import { Chunk, type Duration, Effect, Either, Queue, Stream, TestClock, TestServices } from "effect"
import * as Discovery from "../../src/Discovery.js"
import * as Entries from "../../src/Entries.js"
import * as Entry from "../../src/Entry.js"

export const TOKEN = "0123456789abcdef0123456789abcdef"

export interface Recorded {
  readonly method: string
  readonly url: string
  readonly body: string
}

export interface Reply {
  readonly status: number
  readonly body: string
  readonly headers?: Record<string, string>
}

/** A fake discovery service. `override` answers a request instead of the normal routes. */
export interface Fake {
  readonly service: string
  readonly requests: Array<Recorded>
  entries: Set<string>
  /** When set, GETs carry `X-Discovery-Index` and honour `?index=` by holding the answer until a change. */
  index: number | undefined
  override: ((request: Recorded) => Reply | "hang" | undefined) | undefined
  /** Replaces the members and wakes long-polls. */
  readonly set: (entries: ReadonlyArray<string>) => void
  /** Resolves once `n` requests have arrived in total. */
  readonly requestCount: (n: number) => Effect.Effect<void>
  /** Stops listening and drops every connection, as a killed process does (its port then refuses). */
  readonly kill: Effect.Effect<void>
}

export const fakeServerWith = (tls?: { readonly cert: string; readonly key: string }) =>
  Effect.acquireRelease(
    Effect.async<{ fake: Fake; server: Http.Server }>((resume) => {
      const waiting: Array<() => void> = []
      const countWaiters: Array<{ n: number; done: () => void }> = []
      let server: Http.Server | undefined
      const fake: Fake = {
        kill: Effect.async<void>((done) => {
          server!.closeAllConnections()
          server!.close(() => done(Effect.void))
        }),
        service: "",
        requests: [],
        entries: new Set(),
        index: undefined,
        override: undefined,
        set: (entries) => {
          fake.entries = new Set(entries)
          if (fake.index !== undefined) fake.index++
          waiting.splice(0).forEach((wake) => wake())
        },
        requestCount: (n) =>
          Effect.async<void>((done) => {
            if (fake.requests.length >= n) done(Effect.void)
            else countWaiters.push({ n, done: () => done(Effect.void) })
          })
      }
      const list = (res: Http.ServerResponse) => {
        const headers: Record<string, string> = { "content-type": "application/json" }
        if (fake.index !== undefined) headers["x-discovery-index"] = String(fake.index)
        res.writeHead(200, headers).end(JSON.stringify([...fake.entries].sort()))
      }
      const handler: Http.RequestListener = (req, res) => {
        const chunks: Array<Buffer> = []
        req.on("data", (c: Buffer) => chunks.push(c))
        req.on("end", () => {
          const request = {
            method: req.method ?? "",
            url: req.url ?? "",
            body: Buffer.concat(chunks).toString()
          }
          fake.requests.push(request)
          for (const w of countWaiters.filter((w) => fake.requests.length >= w.n)) {
            countWaiters.splice(countWaiters.indexOf(w), 1)
            w.done()
          }
          const custom = fake.override?.(request)
          if (custom === "hang") return
          if (custom !== undefined) {
            res.writeHead(custom.status, custom.headers ?? {}).end(custom.body)
            return
          }
          const url = new URL(request.url, "http://x")
          const parts = url.pathname.split("/").filter((p) => p !== "")
          if (request.method === "POST" && parts.length === 2) return void res.end("f".repeat(32))
          if (request.method === "POST" && parts.length === 3) {
            fake.set([...fake.entries, request.body])
            return void res.end("OK")
          }
          if (request.method === "DELETE" && parts.length === 4) {
            const entries = new Set(fake.entries)
            entries.delete(decodeURIComponent(parts[3]!))
            fake.set([...entries])
            return void res.end("OK")
          }
          if (request.method === "GET" && parts.length === 3) {
            const since = url.searchParams.get("index")
            if (since !== null && fake.index !== undefined && Number(since) >= fake.index) {
              waiting.push(() => list(res))
              return
            }
            return list(res)
          }
          res.writeHead(404).end("not found")
        })
      }
      server =
        tls === undefined
          ? Http.createServer(handler)
          : Https.createServer({ cert: readFileSync(tls.cert), key: readFileSync(tls.key) }, handler)
      server.listen(0, "127.0.0.1", () => {
        const { port } = server!.address() as AddressInfo
        ;(fake as { service: string }).service =
          `${tls === undefined ? "http" : "https"}://127.0.0.1:${port}/v1`
        resume(Effect.succeed({ fake, server: server! }))
      })
    }),
    ({ server }) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        if (server.listening) server.close(() => resume(Effect.void))
        else resume(Effect.void)
      })
  ).pipe(Effect.map(({ fake }) => fake))

export const fakeServer = fakeServerWith()

export const entry = (s: string) => Either.getOrThrow(Entry.parse(s))

export const connect = (fake: Fake, options: Discovery.DiscoveryOptions = {}) =>
  Discovery.make(`token://${fake.service}/${TOKEN}`, {
    heartbeat: "5 seconds",
    ttl: "15 seconds",
    ...options
  })

/** Forks a watch into a queue of snapshots (or its error). */
export const watching = (discovery: Discovery.DiscoveryShape) =>
  Effect.gen(function* () {
    const queue = yield* Queue.unbounded<Either.Either<ReadonlyArray<string>, Discovery.DiscoveryError>>()
    yield* discovery.watch.pipe(
      Stream.runForEach((entries) => Queue.offer(queue, Either.right(Entries.format(entries)))),
      Effect.catchAll((error) => Queue.offer(queue, Either.left(error))),
      Effect.forkScoped
    )
    return TestServices.provideWithLive(Queue.take(queue), Effect.timeout("5 seconds"))
  })

/**
 * Waits (bounded, on real I/O) until a fiber sleeps on the TestClock for a
 * delay that `matches`, then moves the clock by `duration`. Finished requests
 * leave their timeout sleeps behind (10s), so callers match on the delay.
 */
export const adjustWhenSleeping = (
  duration: Duration.DurationInput,
  matches: (delayMillis: number) => boolean
) =>
  TestServices.provideWithLive(
    Effect.zip(TestClock.sleeps(), TestClock.currentTimeMillis).pipe(
      Effect.zipLeft(Effect.yieldNow()),
      Effect.repeat({ until: ([sleeps, now]) => Chunk.some(sleeps, (end) => matches(end - now)) })
    ),
    Effect.timeoutFail({
      duration: "5 seconds",
      onTimeout: () => new Error("no fiber went to sleep as expected")
    })
  ).pipe(Effect.zipRight(TestClock.adjust(duration)))
