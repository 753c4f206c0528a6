/**
 * The conformance suite every `KvStore` must pass, in the manner of @effect/platform's `KeyValueStore`
 * tests: one `testStore(options)` that registers the same cases for each store.
 *
 * A store supplies `make`, which opens it for one test (a fresh one, or a client of a server shared by the
 * file: every case writes under its own fresh prefix, so tests never see each other's keys), and how its
 * time passes: `clock: "test"` runs on `TestClock` (memory, SQLite) or on a clock the subject moves itself
 * (the Consul double's), `clock: "live"` on real time with short real waits (etcd, ZooKeeper). `expiry`
 * says when a key put with `ttl` is gone: not before `earliest`, and by `latest` (exact stores: both the
 * TTL). `skip` opts a store out of a case, with the reason. The cases: `KvStoreSuiteCases.ts` (what a
 * store holds) and `KvStoreSuiteWatch.ts` (watch).
 *
 * ```ts
 * describe("KvStore/Memory", () => testStore({ clock: "test", ttl: "10 seconds", make: subjectOf(Memory.make) }))
 * ```
 */
import { it } from "@effect/vitest"
import { Effect, type Scope } from "effect"
import type { KvStoreShape } from "../../src/KvStore.js"
import * as StoreCases from "./KvStoreSuiteCases.js"
import { type Case, makeContext, type StoreOptions, type Subject } from "./KvStoreSuiteContext.js"
import * as WatchCases from "./KvStoreSuiteWatch.js"

export type { StoreOptions, Subject } from "./KvStoreSuiteContext.js"

export const cases: ReadonlyArray<Case> = [...Object.values(StoreCases), ...Object.values(WatchCases)]

let run = 0
/** A prefix no other test (nor another process sharing the server) writes under. */
const freshPrefix = () => `kv${process.pid}-${++run}/`

export const subjectOf = <E>(make: Effect.Effect<KvStoreShape, E, Scope.Scope>) =>
  Effect.map(make, (store): Subject => ({ store }))

export const testStore = <E>(options: StoreOptions<E>): void => {
  const c = makeContext(options)
  const skip: Partial<Record<string, string>> = {
    ...(options.fresh === false ? { root: "the server is shared by the file's tests" } : {}),
    ...options.skip
  }
  for (const { key, name, body } of cases) {
    const title = typeof name === "string" ? name : name(c)
    const reason = skip[key]
    if (reason !== undefined) {
      it.skip(`${title} (skipped: ${reason})`, () => {})
      continue
    }
    const test = () =>
      Effect.flatMap(options.make, (subject) => {
        const p = freshPrefix()
        // On a shared server, take this test's keys away (its sibling text prefix too): an etcd lease
        // expiring under a later test would otherwise move the revision that test reads as its index.
        const cleanup = Effect.ignore(subject.store.deletePrefix(p.slice(0, -1)))
        return options.fresh === false ? Effect.ensuring(body(c, subject, p), cleanup) : body(c, subject, p)
      })
    if (c.live) it.scopedLive(title, test, 60_000)
    else it.scoped(title, test, 60_000)
  }
}
