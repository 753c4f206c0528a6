import { assert, describe, it } from "@effect/vitest"
import { Either, FastCheck as fc } from "effect"
import * as Entry from "../src/Entry.js"
import * as Arb from "./support/arbitraries.js"

const ok = (input: string): Entry.Entry => {
  const parsed = Entry.parse(input)
  if (Either.isLeft(parsed)) assert.fail(`${input}: ${parsed.left.message}`)
  return parsed.right
}

const bad = (input: string): Entry.InvalidEntry => {
  const parsed = Entry.parse(input)
  if (Either.isRight(parsed)) return assert.fail(`${input} parsed as ${JSON.stringify(parsed.right)}`)
  return parsed.left
}

describe("Entry.parse", () => {
  it("splits host and port", () => {
    assert.deepStrictEqual(ok("10.0.0.1:2375"), { host: "10.0.0.1", port: 2375 })
    assert.deepStrictEqual(ok("node-1.example.com:1"), { host: "node-1.example.com", port: 1 })
    assert.deepStrictEqual(ok("localhost:65535"), { host: "localhost", port: 65535 })
  })

  it("takes IPv6 in brackets and prints the brackets back", () => {
    const entry = ok("[2001:db8::1]:2375")
    assert.deepStrictEqual(entry, { host: "2001:db8::1", port: 2375 })
    assert.strictEqual(Entry.format(entry), "[2001:db8::1]:2375")
    assert.strictEqual(Entry.format(ok("[::1]:80")), "[::1]:80")
    assert.strictEqual(Entry.format(ok("[fe80::1%eth0]:80")), "[fe80::1%eth0]:80")
    assert.strictEqual(Entry.format(ok("[::ffff:10.0.0.1]:80")), "[::ffff:10.0.0.1]:80")
  })

  it("prints IPv4 and names without brackets", () => {
    assert.strictEqual(Entry.format(Entry.make("10.0.0.1", 2375)), "10.0.0.1:2375")
    assert.strictEqual(Entry.format(Entry.make("a.example", 80)), "a.example:80")
  })

  const cases: ReadonlyArray<readonly [string, string, RegExp]> = [
    ["missing port", "10.0.0.1", /missing port/],
    ["missing port after colon", "10.0.0.1:", /missing port/],
    ["missing port after IPv6", "[::1]", /missing port/],
    ["missing port after IPv6 colon", "[::1]:", /missing port/],
    ["port 0", "10.0.0.1:0", /port 0 is out of range 1-65535/],
    ["port 65536", "10.0.0.1:65536", /port 65536 is out of range 1-65535/],
    ["port 99999", "10.0.0.1:99999", /out of range/],
    ["port with letters", "10.0.0.1:23a5", /"23a5" is not a number/],
    ["port all letters", "10.0.0.1:http", /"http" is not a number/],
    ["negative port", "10.0.0.1:-1", /not a number/],
    ["too many colons", "10.0.0.1:2375:1", /too many colons/],
    ["bare IPv6", "2001:db8::1:2375", /too many colons.*brackets/],
    ["too many colons after IPv6", "[::1]:80:90", /too many colons/],
    ["empty host", ":2375", /empty host/],
    ["empty host in brackets", "[]:2375", /empty host/],
    ["empty input", "", /empty address/],
    ["unclosed bracket", "[::1:2375", /missing '\]'/],
    ["junk after bracket", "[::1]x:80", /expected ':' after '\]'/],
    ["bracket in host", "a]b:80", /unexpected bracket/],
    ["non-IPv6 in brackets", "[example.com]:80", /not an IPv6 address/],
    ["space in host", "my host:80", /characters other than/],
    ["slash in host", "a/b:80", /characters other than/],
    ["too long", "a".repeat(400) + ":80", /longer than 300/]
  ]
  for (const [name, input, reason] of cases) {
    it(`rejects ${name}: ${JSON.stringify(input)}`, () => {
      const error = bad(input)
      assert.strictEqual(error._tag, "InvalidEntry")
      assert.strictEqual(error.input, input)
      assert.match(error.reason, reason)
      // The message names the bad value and shows the right shape.
      assert.include(error.message, JSON.stringify(input))
      assert.include(error.message, "expected host:port")
    })
  }

  it("equals compares host and port", () => {
    assert.isTrue(Entry.equals(ok("a:1"), Entry.make("a", 1)))
    assert.isFalse(Entry.equals(ok("a:1"), ok("a:2")))
    assert.isFalse(Entry.equals(ok("a:1"), ok("b:1")))
  })
})

const entryArb = Arb.entry

describe("Entry properties", () => {
  it.prop("parse(format(e)) gives e back", [entryArb], ([entry]) => {
    const printed = Entry.format(entry)
    const parsed = Entry.parse(printed)
    assert.isTrue(Either.isRight(parsed), printed)
    assert.deepStrictEqual(Either.getOrThrow(parsed), entry)
  })

  it.prop("format(parse(s)) gives s back for valid input", [entryArb], ([entry]) => {
    const text = Entry.format(entry)
    assert.strictEqual(Entry.format(Either.getOrThrow(Entry.parse(text))), text)
  })

  it.prop(
    "ports outside 1-65535 are rejected",
    [fc.oneof(fc.constant(0), fc.integer({ min: 65536, max: 99999 }))],
    ([n]) => {
      assert.isTrue(Either.isLeft(Entry.parse(`10.0.0.1:${n}`)))
    }
  )

  it.prop("parse never throws", [fc.string({ maxLength: 60 })], ([s]) => {
    const parsed = Entry.parse(s)
    if (Either.isRight(parsed)) assert.isTrue(parsed.right.port >= 1 && parsed.right.port <= 65535)
  })
})
