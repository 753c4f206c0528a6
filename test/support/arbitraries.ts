/** fast-check arbitraries for the pure model, shared by the property tests. */
import { FastCheck as fc } from "effect"
import * as Entry from "../../src/Entry.js"

// RFC 1123 labels; one letter at least, so a name is never mistaken for an IPv4 literal.
const label = fc.stringMatching(/^[a-z]([a-z0-9-]{0,9}[a-z0-9])?$/)
export const hostname = fc.array(label, { minLength: 1, maxLength: 4 }).map((parts) => parts.join("."))
export const port = fc.integer({ min: 1, max: 65535 })
export const entry: fc.Arbitrary<Entry.Entry> = fc
  .record({ host: fc.oneof(hostname, fc.ipV4(), fc.ipV6()), port })
  .map(({ host, port }) => Entry.make(host, port))

/** Small lists drawn from a small pool, so lists overlap and repeat members. */
export const entryPool = fc.array(entry, { minLength: 1, maxLength: 12 })
export const listsFrom = (count: number) =>
  entryPool.chain((pool) =>
    fc.tuple(...Array.from({ length: count }, () => fc.array(fc.constantFrom(...pool), { maxLength: 20 })))
  )
