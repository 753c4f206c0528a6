import { assert, describe, it } from "@effect/vitest"
import { Either } from "effect"
import * as DiscoveryUrl from "../src/DiscoveryUrl.js"

const ok = (url: string) => Either.getOrThrow(DiscoveryUrl.parse(url))

describe("DiscoveryUrl.parse", () => {
  it("splits scheme and rest", () => {
    assert.deepStrictEqual(ok("token://abc"), { scheme: "token", rest: "abc" })
    assert.deepStrictEqual(ok("file:///etc/cluster"), { scheme: "file", rest: "/etc/cluster" })
    assert.deepStrictEqual(ok("etcd://h1:2379,h2:2379/prefix"), {
      scheme: "etcd",
      rest: "h1:2379,h2:2379/prefix"
    })
    assert.deepStrictEqual(ok("memory://test"), { scheme: "memory", rest: "test" })
  })

  it("accepts every scheme Swarm classic had, plus memory", () => {
    for (const scheme of ["token", "file", "nodes", "etcd", "zk", "consul", "memory"]) {
      assert.strictEqual(ok(`${scheme}://x`).scheme, scheme)
    }
  })

  it("lower-cases the scheme", () => {
    assert.strictEqual(ok("NODES://a:1").scheme, "nodes")
  })

  it("defaults to nodes without ://", () => {
    assert.deepStrictEqual(ok("10.0.0.[1:3]:2375,10.0.1.1:2375"), {
      scheme: "nodes",
      rest: "10.0.0.[1:3]:2375,10.0.1.1:2375"
    })
  })

  it("fails on an unknown scheme with 'discovery service not supported'", () => {
    const result = DiscoveryUrl.parse("redis://h:1")
    assert.isTrue(Either.isLeft(result))
    if (Either.isLeft(result)) {
      assert.strictEqual(result.left._tag, "NotSupported")
      assert.include(result.left.message, "discovery service not supported")
      assert.include(result.left.message, '"redis"')
    }
  })

  it("fails on an empty URL", () => {
    const result = DiscoveryUrl.parse("  ")
    assert.isTrue(Either.isLeft(result))
    if (Either.isLeft(result)) assert.strictEqual(result.left._tag, "InvalidUrl")
  })

  it("format puts it back together", () => {
    assert.strictEqual(DiscoveryUrl.format(ok("zk://h/p")), "zk://h/p")
    assert.strictEqual(DiscoveryUrl.format(ok("a:1")), "nodes://a:1")
  })
})

describe("DiscoveryUrl.redact", () => {
  const token = "0123456789abcdef0123456789abcdef"

  it("hides a token:// token", () => {
    const out = DiscoveryUrl.redact(`token://${token}`)
    assert.notInclude(out, token)
    assert.strictEqual(out, "token://0123…")
  })

  it("hides the last segment of token://host/path/<token> and explicit http forms", () => {
    for (const url of [
      `token://discovery.example:8375/v1/${token}`,
      `token://http://127.0.0.1:8375/v1/${token}`,
      `token://https://d.example/v1/mytoken`
    ]) {
      const out = DiscoveryUrl.redact(`joining ${url} now`)
      assert.notInclude(out, token)
      assert.notInclude(out, "mytoken")
      assert.match(out, /^joining token:\/\/.*\/\w{4}… now$/)
    }
  })

  it("hides a bare 32-hex token anywhere in a message", () => {
    const out = DiscoveryUrl.redact(`GET http://127.0.0.1:8375/v1/clusters/${token} failed`)
    assert.notInclude(out, token)
    assert.include(out, "clusters/0123…")
  })

  it("leaves prose that mentions token:// alone", () => {
    const hint = "use token://, etcd://, zk://, consul:// or memory:// to register"
    assert.strictEqual(DiscoveryUrl.redact(hint), hint)
  })

  it("is idempotent", () => {
    const once = DiscoveryUrl.redact(`token://${token} and token://http://h:1/v1/secret-token`)
    assert.strictEqual(DiscoveryUrl.redact(once), once)
    assert.strictEqual(once, "token://0123… and token://http://h:1/v1/secr…")
  })

  it("keeps what follows the token", () => {
    assert.strictEqual(DiscoveryUrl.redact("token://abcdefgh, then more"), "token://abcd…, then more")
    assert.strictEqual(DiscoveryUrl.redact("(token://h/v1/abcdefgh)"), "(token://h/v1/abcd…)")
  })

  it("leaves text without tokens alone", () => {
    const text = "nodes://10.0.0.1:2375 and etcd://h:2379/p"
    assert.strictEqual(DiscoveryUrl.redact(text), text)
  })

  it("InvalidUrl messages are redacted", () => {
    const error = new DiscoveryUrl.InvalidUrl({ url: `token://${token}`, reason: "bad" })
    assert.notInclude(error.message, token)
  })
})
