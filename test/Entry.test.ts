import { assert, describe, it } from "@effect/vitest"
import { Either, Equal, FastCheck as fc, Hash, HashSet, Schema } from "effect"
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
    ["IPv4 octet above 255", "999.999.999.999:1", /not an IPv4 address: "999" is not a number 0-255/],
    ["five octets", "1.2.3.4.5:1", /not an IPv4 address \(expected four numbers/],
    ["three octets", "1.2.3:1", /not an IPv4 address/],
    ["a leading zero", "10.0.0.01:1", /leading zero/],
    ["only dots", "...:80", /not an IPv4 address/],
    ["empty label", "a..b:80", /empty label/],
    ["trailing dot", "a.example.:80", /empty label/],
    ["leading hyphen", "-a.example:80", /label "-a"/],
    ["trailing hyphen", "a-.example:80", /label "a-"/],
    ["a 64-character label", `${"a".repeat(64)}.example:80`, /longer than 63/],
    ["colons only in brackets", "[:::::]:1", /not an IPv6 address: '::' may appear only once/],
    ["nine IPv6 groups", "[1:2:3:4:5:6:7:8:9]:1", /wrong number of groups/],
    ["seven IPv6 groups without ::", "[1:2:3:4:5:6:7]:1", /wrong number of groups/],
    ["a five-digit IPv6 group", "[12345::1]:1", /1-4 hex digits/],
    ["a bad embedded IPv4", "[::ffff:300.1.1.1]:1", /"300.1.1.1" is not an IPv4 address/],
    ["a non-hex IPv6 group", "[::g]:1", /1-4 hex digits/],
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

  it("accepts the literals and names the rules allow", () => {
    for (const input of [
      "0.0.0.0:1",
      "255.255.255.255:65535",
      "[::]:1",
      "[1:2:3:4:5:6:7:8]:1",
      "[1::8]:1",
      "[::ffff:10.0.0.1]:1",
      "[fe80::1%eth0]:1",
      "a:1",
      "1a.example:1",
      "x-1.y-2.example:1",
      "host_b:80",
      "my_project_web_1:2375",
      "_srv.example:1",
      `${"a".repeat(63)}.example:1`
    ]) {
      assert.strictEqual(Entry.format(ok(input)), input)
    }
  })

  it("compares host names case-insensitively: they are stored in lower case", () => {
    assert.strictEqual(Entry.format(ok("HOST.Example:1")), "host.example:1")
    assert.strictEqual(Entry.format(ok("[2001:DB8::A]:1")), "[2001:db8::a]:1")
    assert.isTrue(Equal.equals(ok("HOST.EXAMPLE:1"), ok("host.example:1")))
    assert.isTrue(Equal.equals(Entry.make("Host", 1), ok("host:1")))
  })

  it("equals compares host and port", () => {
    assert.isTrue(Entry.equals(ok("a:1"), Entry.make("a", 1)))
    assert.isFalse(Entry.equals(ok("a:1"), ok("a:2")))
    assert.isFalse(Entry.equals(ok("a:1"), ok("b:1")))
  })
})

describe("Entry values", () => {
  it("compare by value: Equal, Hash, HashSet", () => {
    const a = Entry.make("10.0.0.1", 2375)
    const b = ok("10.0.0.1:2375")
    assert.notStrictEqual(a, b)
    assert.isTrue(Equal.equals(a, b))
    assert.strictEqual(Hash.hash(a), Hash.hash(b))
    assert.isFalse(Equal.equals(a, Entry.make("10.0.0.1", 2376)))
    assert.strictEqual(HashSet.size(HashSet.make(a, b, Entry.make("10.0.0.2", 2375))), 2)
  })

  it("validate checks an entry built by hand with the parser's rules", () => {
    assert.isTrue(Either.isRight(Entry.validate(Entry.make("a", 1))))
    const empty = Either.flip(Entry.validate(Entry.make("", 0)))
    assert.isTrue(Either.isRight(empty))
    assert.match(Either.getOrThrow(empty).reason, /empty host/)
    assert.match(Either.getOrThrow(Either.flip(Entry.validate(Entry.make("a", 1.5)))).reason, /not a number/)
    assert.match(Either.getOrThrow(Either.flip(Entry.validate(Entry.make("a", 0)))).reason, /out of range/)
  })
})

describe("Entry.FromString", () => {
  const decode = Schema.decodeUnknownEither(Entry.FromString)
  it("decodes host:port to an Entry and encodes it back", () => {
    const decoded = Either.getOrThrow(decode("[2001:DB8::1]:2375"))
    assert.instanceOf(decoded, Entry.Entry)
    assert.isTrue(Equal.equals(decoded, Entry.make("2001:db8::1", 2375)))
    assert.strictEqual(Schema.encodeSync(Entry.FromString)(decoded), "[2001:db8::1]:2375")
  })

  it("fails with parse's message, naming the bad value", () => {
    const error = Either.getOrThrow(Either.flip(decode("999.999.999.999:1")))
    assert.include(error.message, '"999.999.999.999:1"')
    assert.include(error.message, "is not a number 0-255")
    assert.include(error.message, "expected host:port")
    assert.isTrue(Either.isLeft(decode(42)))
  })

  it("works inside other schemas, e.g. a JSON array of entries", () => {
    const list = Schema.decodeUnknownEither(Schema.parseJson(Schema.Array(Entry.FromString)))
    const decoded = Either.getOrThrow(list('["a:1","[::1]:2"]'))
    assert.deepStrictEqual(decoded.map(Entry.format), ["a:1", "[::1]:2"])
    assert.isTrue(Either.isLeft(list('["a:1","...:80"]')))
  })

  it.prop("decode agrees with parse on any string", [fc.string({ maxLength: 40 })], ([s]) => {
    const parsed = Entry.parse(s)
    const decoded = decode(s)
    assert.strictEqual(Either.isRight(decoded), Either.isRight(parsed))
    if (Either.isRight(parsed) && Either.isRight(decoded))
      assert.isTrue(Equal.equals(parsed.right, decoded.right))
  })
})

const entryArb = Arb.entry

describe("Entry properties", () => {
  it.prop("parse(format(e)) gives e back", [entryArb], ([entry]) => {
    const printed = Entry.format(entry)
    const parsed = Entry.parse(printed)
    assert.isTrue(Either.isRight(parsed), printed)
    assert.isTrue(Equal.equals(Either.getOrThrow(parsed), entry))
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

  // Half the inputs are valid entries written out, half arbitrary text: both branches run every time.
  const text = fc.oneof(fc.string({ maxLength: 60 }), Arb.entry.map(Entry.format))
  it.prop("parse never throws: a valid port, or an error naming the input", [text], ([s]) => {
    const parsed = Entry.parse(s)
    if (Either.isRight(parsed)) assert.isTrue(parsed.right.port >= 1 && parsed.right.port <= 65535)
    else assert.strictEqual(parsed.left.input, s)
  })
})

describe("Entry.Order", () => {
  it("sorts IPv4 numerically, then IPv6 numerically, then names, each then by port", () => {
    const inputs = [
      "b:1",
      "10.0.0.10:2375",
      "[2001:db8::a]:1",
      "a:2",
      "10.0.0.8:2375",
      "[::1]:7",
      "[::ffff:10.0.0.1]:1",
      "a:1",
      "9.1.1.1:80",
      "10.0.0.8:80",
      "[2001:db8::9]:1",
      "host_b:80"
    ]
    const sorted = [...inputs.map(ok)].sort(Entry.Order).map(Entry.format)
    assert.deepStrictEqual(sorted, [
      "9.1.1.1:80",
      "10.0.0.8:80",
      "10.0.0.8:2375",
      "10.0.0.10:2375",
      "[::1]:7",
      "[::ffff:10.0.0.1]:1",
      "[2001:db8::9]:1",
      "[2001:db8::a]:1",
      "a:1",
      "a:2",
      "b:1",
      "host_b:80"
    ])
  })
})
