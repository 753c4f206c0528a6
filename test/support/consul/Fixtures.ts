/**
 * Requests a test makes straight to the double, as another Consul client would,
 * and short bounded polls for I/O to land.
 */
import { Effect } from "effect"
import type { ConsulDouble } from "./Double.js"

/** A session of someone else's. */
export const foreignSession = (double: ConsulDouble, lockDelay = "0s") =>
  Effect.promise(async () => {
    const res = await fetch(`${double.url}/v1/session/create`, {
      method: "PUT",
      body: JSON.stringify({ TTL: "60s", Behavior: "delete", LockDelay: lockDelay })
    })
    return ((await res.json()) as { ID: string }).ID
  })

/** A PUT; the answer's body. */
export const httpPut = (double: ConsulDouble, path: string, body: string) =>
  Effect.promise(async () => (await fetch(`${double.url}${path}`, { method: "PUT", body })).text())

/** A PUT; the status and the body as JSON (or text, when it is not JSON). */
export const httpPutJson = (double: ConsulDouble, path: string, body: unknown) =>
  Effect.promise(async () => {
    const res = await fetch(`${double.url}${path}`, {
      method: "PUT",
      body: typeof body === "string" ? body : JSON.stringify(body)
    })
    const text = await res.text()
    let json: unknown = text
    try {
      json = JSON.parse(text)
    } catch {
      // left as text
    }
    return { status: res.status, contentType: res.headers.get("content-type"), json }
  })

/** A short real pause, for I/O to land. */
export const tick = Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, 5)))

/** Polls `condition` for at most ~3s of real time. */
export const until = (condition: () => boolean, what: string) =>
  Effect.gen(function* () {
    for (let i = 0; i < 600; i++) {
      if (condition()) return
      yield* tick
    }
    return yield* Effect.dieMessage(`timed out waiting for ${what}`)
  })
