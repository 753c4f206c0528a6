import { assert, describe, it } from "@effect/vitest"
import { Either } from "effect"
import * as TokenUrl from "../src/TokenUrl.js"

const TOKEN = "0123456789abcdef0123456789abcdef"

const ok = (rest: string, options?: TokenUrl.ParseOptions) => {
  const parsed = TokenUrl.parse(rest, options)
  if (Either.isLeft(parsed)) assert.fail(`expected ${rest} to parse: ${parsed.left.message}`)
  return parsed.right
}
const bad = (rest: string, options?: TokenUrl.ParseOptions) => {
  const parsed = TokenUrl.parse(rest, options)
  if (Either.isRight(parsed)) assert.fail(`expected ${rest} to fail, got ${JSON.stringify(parsed.right)}`)
  return parsed.left
}

describe("TokenUrl.parse", () => {
  it("token://<token> uses the built-in default service", () => {
    assert.deepStrictEqual(ok(TOKEN), {
      service: "http://127.0.0.1:8375/v1",
      services: ["http://127.0.0.1:8375/v1"],
      token: TOKEN
    })
    assert.strictEqual(TokenUrl.DEFAULT_SERVICE, "http://127.0.0.1:8375/v1")
  })

  it("token://<token> uses SWARM_TOKEN_URL when it is set (trailing slash dropped)", () => {
    assert.deepStrictEqual(ok(TOKEN, { defaultService: "https://disco.example:9000/v1/" }), {
      service: "https://disco.example:9000/v1",
      services: ["https://disco.example:9000/v1"],
      token: TOKEN
    })
    // An empty variable counts as unset.
    assert.strictEqual(ok(TOKEN, { defaultService: "  " }).service, "http://127.0.0.1:8375/v1")
  })

  it("token://host[:port]/path/<token> means https, as in Swarm classic", () => {
    assert.deepStrictEqual(ok(`disco.example:8443/v1/${TOKEN}`), {
      service: "https://disco.example:8443/v1",
      services: ["https://disco.example:8443/v1"],
      token: TOKEN
    })
    assert.deepStrictEqual(ok(`disco.example/${TOKEN}`), {
      service: "https://disco.example",
      services: ["https://disco.example"],
      token: TOKEN
    })
    assert.deepStrictEqual(ok(`[::1]:8375/a/b/${TOKEN}`), {
      service: "https://[::1]:8375/a/b",
      services: ["https://[::1]:8375/a/b"],
      token: TOKEN
    })
  })

  it("explicit http:// and https:// service URLs", () => {
    assert.deepStrictEqual(ok(`http://127.0.0.1:8375/v1/${TOKEN}`), {
      service: "http://127.0.0.1:8375/v1",
      services: ["http://127.0.0.1:8375/v1"],
      token: TOKEN
    })
    assert.deepStrictEqual(ok(`HTTPS://Disco.Example/v1/${TOKEN}`), {
      service: "https://disco.example/v1",
      services: ["https://disco.example/v1"],
      token: TOKEN
    })
    assert.deepStrictEqual(ok(`http://10.0.0.1:80/${TOKEN}`), {
      service: "http://10.0.0.1",
      services: ["http://10.0.0.1"],
      token: TOKEN
    })
  })

  it("the discovery-opt token.url replaces the service in every form", () => {
    const override = "http://10.1.1.1:9999/v1"
    for (const rest of [TOKEN, `disco.example/v1/${TOKEN}`, `https://x.example/v1/${TOKEN}`]) {
      assert.deepStrictEqual(ok(rest, { override, defaultService: "http://ignored:1/v1" }), {
        service: override,
        services: [override],
        token: TOKEN
      })
    }
  })

  it("accepts any URL-safe token, not only the Hub's hex shape", () => {
    assert.strictEqual(ok("my-cluster_1.a~b").token, "my-cluster_1.a~b")
  })

  it("rejects a missing or malformed token, without printing it", () => {
    assert.match(bad("").reason, /token is missing/)
    assert.match(bad(`http://127.0.0.1:8375/v1/`).reason, /token is missing/)
    assert.match(bad("http://127.0.0.1:8375").reason, /expected token:\/\/http:\/\/host/)
    assert.match(bad("/abc").reason, /expected token:\/\//)
    const secret = "secretsecretsecret?x=1"
    const error = bad(`http://127.0.0.1/v1/${secret}`)
    assert.match(error.reason, /only letters, digits/)
    assert.notInclude(error.message, "secretsecret")
    assert.match(bad("x".repeat(257)).reason, /longer than 256/)
  })

  it("rejects a service that is not http(s), with the source named", () => {
    assert.match(
      bad(TOKEN, { defaultService: "ftp://host/v1" }).reason,
      /SWARM_TOKEN_URL .* http:\/\/ or https/
    )
    assert.match(bad(TOKEN, { override: "not a url" }).reason, /token\.url .* is not a URL/)
    assert.match(bad(TOKEN, { override: "http://h/v1?x=1" }).reason, /query/)
    assert.match(bad(TOKEN, { override: "http://user:pw@h/v1" }).reason, /credentials/)
  })
})

describe("TokenUrl: several instances of a service", () => {
  it("token.url and SWARM_TOKEN_URL take a comma-separated list, kept in order", () => {
    const list = "https://a.example:8375/v1/, http://b.example:8375/v1"
    const services: TokenUrl.ServiceList = ["https://a.example:8375/v1", "http://b.example:8375/v1"]
    assert.deepStrictEqual(ok(TOKEN, { override: list }), { service: services[0], services, token: TOKEN })
    assert.deepStrictEqual(ok(TOKEN, { defaultService: list }).services, services)
    assert.deepStrictEqual(TokenUrl.parseServices(list, "--url"), Either.right(services))
  })

  it("an empty element, a bad URL among several, or a repeat is refused, naming the element", () => {
    assert.match(
      bad(TOKEN, { override: "http://a/v1,,http://b/v1" }).reason,
      /token\.url \(element 2 of .*\) is empty/
    )
    assert.match(bad(TOKEN, { override: "http://a/v1," }).reason, /element 2 .* is empty/)
    assert.match(
      bad(TOKEN, { override: "http://a/v1,ftp://b/v1" }).reason,
      /element 2 .*"ftp:\/\/b\/v1" must start with http/
    )
    assert.match(
      bad(TOKEN, { defaultService: "http://a/v1,b" }).reason,
      /SWARM_TOKEN_URL \(element 2 .*"b" is not a URL/
    )
    assert.match(bad(TOKEN, { override: "http://a/v1,http://A/v1/" }).reason, /names http:\/\/a\/v1 twice/)
    const empty = TokenUrl.parseServices(" ", "--url")
    assert.deepStrictEqual(empty, Either.left("--url is empty; expected http(s)://host[:port]/path"))
  })

  it("a token:// URL names one service: a list inside it is refused with the way to give several", () => {
    assert.match(bad(`http://a:1/v1,http://b:1/v1/${TOKEN}`).reason, /token\.url=URL1,URL2/)
    assert.match(bad(`a:1,b:1/v1/${TOKEN}`).reason, /token\.url=URL1,URL2/)
  })
})

describe("TokenUrl.validateToken", () => {
  it("accepts the Hub's 32 hex digits and refuses slashes and spaces", () => {
    assert.isUndefined(TokenUrl.validateToken(TOKEN))
    assert.isDefined(TokenUrl.validateToken("a/b"))
    assert.isDefined(TokenUrl.validateToken("a b"))
    assert.isDefined(TokenUrl.validateToken(""))
  })
})
