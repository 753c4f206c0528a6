import { assert, describe, it } from "@effect/vitest"
import { Either, FastCheck as fc } from "effect"
import * as AddressRange from "../src/AddressRange.js"

const expand = (input: string, max?: number) => Either.getOrThrow(AddressRange.expand(input, max))
const failure = (input: string, max?: number): AddressRange.InvalidRange => {
  const result = AddressRange.expand(input, max)
  if (Either.isRight(result)) return assert.fail(`${input} expanded to ${result.right.length} items`)
  return result.left
}

describe("AddressRange.expand", () => {
  it("leaves a pattern without ranges alone", () => {
    assert.deepStrictEqual(expand("10.0.0.1:2375"), ["10.0.0.1:2375"])
  })

  it("expands a range in the host, inclusively", () => {
    assert.deepStrictEqual(expand("10.0.0.[1:3]:2375"), ["10.0.0.1:2375", "10.0.0.2:2375", "10.0.0.3:2375"])
  })

  it("expands a range inside the port", () => {
    assert.deepStrictEqual(expand("192.168.1.2:[2:4]375"), [
      "192.168.1.2:2375",
      "192.168.1.2:3375",
      "192.168.1.2:4375"
    ])
  })

  it("expands a one-element range", () => {
    assert.deepStrictEqual(expand("10.0.0.[7:7]:80"), ["10.0.0.7:80"])
  })

  it("multiplies several ranges", () => {
    assert.deepStrictEqual(expand("10.0.[1:2].[5:6]:80"), [
      "10.0.1.5:80",
      "10.0.1.6:80",
      "10.0.2.5:80",
      "10.0.2.6:80"
    ])
  })

  it("does not pad: [08:10] gives 8, 9, 10", () => {
    assert.deepStrictEqual(expand("h[08:10]:1"), ["h8:1", "h9:1", "h10:1"])
  })

  it("keeps IPv6 brackets verbatim", () => {
    assert.deepStrictEqual(expand("[2001:db8::1]:2375"), ["[2001:db8::1]:2375"])
    assert.deepStrictEqual(expand("[::1]:[1:2]"), ["[::1]:1", "[::1]:2"])
  })

  it("rejects a reversed range and says where", () => {
    const error = failure("10.0.0.[5:1]:2375")
    assert.strictEqual(error._tag, "InvalidRange")
    assert.strictEqual(error.position, "10.0.0.".length)
    assert.match(error.reason, /reversed: 5 is greater than 1/)
    assert.include(error.message, "column 8")
    assert.include(error.message, JSON.stringify("10.0.0.[5:1]:2375"))
  })

  it("rejects a non-numeric range and says where", () => {
    const error = failure("10.0.0.1:[a:5]")
    assert.strictEqual(error.position, "10.0.0.1:".length)
    assert.match(error.reason, /\[a:5\] is not a numeric range/)
    assert.include(error.message, "column 10")
    assert.match(failure("h[1:]:80").reason, /not a numeric range/)
    assert.match(failure("h[-1:3]:80").reason, /not a numeric range/)
  })

  it("rejects an unclosed bracket", () => {
    const error = failure("10.0.0.[1:3:2375")
    assert.strictEqual(error.position, 7)
    assert.match(error.reason, /never closed/)
  })

  it("caps the expansion", () => {
    assert.strictEqual(expand("h[1:10]:[1:10]", 100).length, 100)
    const error = failure("h[1:10]:[1:11]", 100)
    assert.match(error.reason, /expands to 110 addresses, more than the limit of 100/)
    // The default cap stops a typo before it allocates anything.
    assert.match(failure("10.[0:255].[0:255].[0:255]:2375").reason, /more than the limit of 65536/)
    assert.strictEqual(AddressRange.MAX_EXPANSION, 65536)
  })
})

describe("AddressRange properties", () => {
  it.prop(
    "a range expands to to-from+1 consecutive values",
    [fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 0, max: 300 })],
    ([from, width]) => {
      const out = expand(`h[${from}:${from + width}]:1`)
      assert.strictEqual(out.length, width + 1)
      assert.strictEqual(out[0], `h${from}:1`)
      assert.strictEqual(out[out.length - 1], `h${from + width}:1`)
    }
  )

  it.prop(
    "a reversed range always fails at its bracket",
    [
      fc.string({ maxLength: 8 }).filter((s) => !s.includes("[") && !s.includes("]")),
      fc.integer({ min: 1, max: 1000 }),
      fc.integer({ min: 1, max: 50 })
    ],
    ([prefix, to, gap]) => {
      const error = failure(`${prefix}[${to + gap}:${to}]:1`)
      assert.strictEqual(error.position, prefix.length)
    }
  )
})
