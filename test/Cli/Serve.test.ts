/** `swarm serve`'s flags: parsing and validation, and the start-up instructions. */
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Either, Option } from "effect"
import * as Serve from "../../src/Cli/ServeConfig.js"
import * as ServerConfig from "../../src/Server/Config.js"
import * as ServeRun from "../../src/Cli/ServeRun.js"

const input = (over: Partial<Serve.ServeInput> = {}): Serve.ServeInput => ({
  listen: ServerConfig.DEFAULT_LISTEN,
  store: Option.none(),
  dataDir: Option.some("/tmp/swarm-test-data"),
  defaultTtl: ServerConfig.DEFAULT_TTL,
  minTtl: ServerConfig.DEFAULT_MIN_TTL,
  maxTtl: ServerConfig.DEFAULT_MAX_TTL,
  maxEntries: 1000,
  tlscert: Option.none(),
  tlskey: Option.none(),
  tlscacert: Option.none(),
  tlsverify: false,
  ...over
})

const reasonOf = <A>(effect: Effect.Effect<A, { readonly reason: string }>) =>
  Effect.map(Effect.flip(effect), (e) => e.reason)

describe("serve flags", () => {
  it("--listen forms", () => {
    assert.deepStrictEqual(
      Serve.parseListen("127.0.0.1:8375"),
      Either.right({ host: "127.0.0.1", port: 8375 })
    )
    assert.deepStrictEqual(Serve.parseListen("[::1]:9000"), Either.right({ host: "::1", port: 9000 }))
    assert.deepStrictEqual(Serve.parseListen(":8375"), Either.right({ host: "0.0.0.0", port: 8375 }))
    assert.deepStrictEqual(Serve.parseListen("localhost:0"), Either.right({ host: "localhost", port: 0 }))
    for (const bad of ["8375", "127.0.0.1", "127.0.0.1:99999", "::1:80", ":99999", "a b:1", ""]) {
      const parsed = Serve.parseListen(bad)
      assert.isTrue(Either.isLeft(parsed), bad)
      if (Either.isLeft(parsed)) {
        assert.include(parsed.left.reason, `--listen ${JSON.stringify(bad)}`)
        assert.include(parsed.left.reason, "host:port")
      }
    }
  })

  it("--store forms", () => {
    const dir = "/data"
    assert.deepStrictEqual(
      Serve.parseStore(Option.none(), dir),
      Either.right({ kind: "sqlite", file: "/data/discovery.db", synchronous: "normal" })
    )
    assert.deepStrictEqual(Serve.parseStore(Option.some("memory://"), dir), Either.right({ kind: "memory" }))
    assert.deepStrictEqual(
      Serve.parseStore(Option.some("sqlite://"), dir),
      Either.right({ kind: "sqlite", file: "/data/discovery.db", synchronous: "normal" })
    )
    assert.deepStrictEqual(
      Serve.parseStore(Option.some("sqlite:///var/lib/d.db?synchronous=full"), dir),
      Either.right({ kind: "sqlite", file: "/var/lib/d.db", synchronous: "full" })
    )
    // etcd: leases shared by time, and the group compacting etcd every 5 minutes, unless told otherwise.
    assert.deepStrictEqual(
      Serve.parseStore(Option.some("etcd://h1:2379,h2:2379/swarm"), dir),
      Either.right({
        kind: "etcd",
        endpoints: ["h1:2379", "h2:2379"],
        prefix: "swarm",
        leases: "shared",
        compaction: Duration.minutes(5)
      })
    )
    const cases: ReadonlyArray<readonly [string, string]> = [
      ["etcd:///swarm", "host:port"],
      ["redis://x", "unknown store"],
      ["memory://name", "nothing after"],
      ["sqlite:///x.db?synchronous=off", "normal or full"],
      ["sqlite:///x.db?cache=1", "unknown parameter"]
    ]
    for (const [value, text] of cases) {
      const parsed = Serve.parseStore(Option.some(value), dir)
      assert.isTrue(Either.isLeft(parsed), value)
      if (Either.isLeft(parsed)) {
        assert.include(parsed.left.reason, text)
        assert.include(parsed.left.reason, JSON.stringify(value))
      }
    }
    // --store-opt is for etcd:// only: the default store and the others refuse it rather than ignore it.
    const opt = ["kv.cacertfile=/ca.pem"]
    for (const store of [Option.none(), Option.some("memory://"), Option.some("sqlite://")]) {
      const parsed = Serve.parseStore(store, dir, opt)
      assert.isTrue(Either.isLeft(parsed), String(store))
      if (Either.isLeft(parsed)) assert.include(parsed.left.reason, "--store-opt only applies to")
    }
    assert.isTrue(Either.isRight(Serve.parseStore(Option.some("etcd://h1:2379/swarm"), dir, opt)))
    // kv.leases picks the etcd store's lease mode; anything else is named with what would be right.
    const perKey = Serve.parseStore(Option.some("etcd://h1:2379/swarm"), dir, ["kv.leases=per-key"])
    assert.deepStrictEqual(
      perKey,
      Either.right({ kind: "etcd", endpoints: ["h1:2379"], prefix: "swarm", leases: "per-key" }),
      "one lease per entry: heartbeats are keep-alives, no history to compact"
    )
    const bad = Serve.parseStore(Option.some("etcd://h1:2379/swarm"), dir, ["kv.leases=pooled"])
    assert.isTrue(Either.isLeft(bad))
    if (Either.isLeft(bad)) {
      assert.include(bad.left.reason, '"pooled"')
      assert.include(bad.left.reason, "per-key or shared")
    }
    // kv.compaction: how often the group compacts etcd; a minute at least, or off.
    const etcdWith = (opts: Array<string>) => Serve.parseStore(Option.some("etcd://h1:2379/swarm"), dir, opts)
    const every = etcdWith(["kv.leases=shared", "kv.compaction=5m"])
    assert.isTrue(Either.isRight(every) && every.right.kind === "etcd")
    if (Either.isRight(every) && every.right.kind === "etcd")
      assert.strictEqual(Duration.toMillis(every.right.compaction!), 300_000)
    for (const opts of [["kv.compaction=off"], ["kv.leases=shared", "kv.compaction=off"]]) {
      const off = etcdWith(opts)
      assert.isTrue(Either.isRight(off) && off.right.kind === "etcd" && off.right.compaction === undefined)
    }
    const perKeyCompacted = etcdWith(["kv.leases=per-key", "kv.compaction=10m"])
    assert.isTrue(Either.isRight(perKeyCompacted) && perKeyCompacted.right.kind === "etcd")
    if (Either.isRight(perKeyCompacted) && perKeyCompacted.right.kind === "etcd")
      assert.strictEqual(Duration.toMillis(perKeyCompacted.right.compaction!), 600_000)
    for (const value of ["30s", "often", ""]) {
      const refused = etcdWith([`kv.compaction=${value}`])
      assert.isTrue(Either.isLeft(refused), value)
      if (Either.isLeft(refused)) {
        assert.include(refused.left.reason, `kv.compaction=${JSON.stringify(value)}`)
        assert.include(refused.left.reason, "1m or more (5m), or off")
      }
    }
  })

  it.effect("defaults", () =>
    Effect.gen(function* () {
      const config = yield* Serve.parse(input())
      assert.strictEqual(config.host, "127.0.0.1")
      assert.strictEqual(config.port, 8375)
      assert.strictEqual(Duration.toMillis(config.defaultTtl), 180_000)
      assert.strictEqual(Duration.toMillis(config.minTtl), 1_000)
      assert.strictEqual(Duration.toMillis(config.maxTtl), 3_600_000)
      assert.strictEqual(config.maxEntries, 1000)
      assert.deepStrictEqual(config.store, {
        kind: "sqlite",
        file: "/tmp/swarm-test-data/discovery.db",
        synchronous: "normal"
      })
      assert.isTrue(Option.isNone(config.tls))
    })
  )

  it.effect("the data dir defaults to $XDG_STATE_HOME/swarm-discovery", () =>
    Effect.gen(function* () {
      const config = yield* Serve.parse(input({ dataDir: Option.none() })).pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["XDG_STATE_HOME", "/state"]])))
      )
      assert.strictEqual(config.dataDir, "/state/swarm-discovery")
    })
  )

  it.effect("TTL flags: Go durations, ordered min <= default <= max", () =>
    Effect.gen(function* () {
      const ok = yield* Serve.parse(
        input({ minTtl: Duration.seconds(5), maxTtl: Duration.minutes(10), defaultTtl: Duration.seconds(90) })
      )
      assert.strictEqual(Duration.toMillis(ok.defaultTtl), 90_000)
      // A default outside a narrowed range follows the range.
      const narrowed = yield* Serve.parse(input({ maxTtl: Duration.minutes(1) }))
      assert.strictEqual(Duration.toMillis(narrowed.defaultTtl), 60_000)
      // A value that is not a duration, or --min-ttl 0s, is refused by the option itself (test/Cli/Cli.test.ts).
      assert.include(
        yield* reasonOf(Serve.parse(input({ minTtl: Duration.minutes(1), maxTtl: Duration.seconds(30) }))),
        "--max-ttl"
      )
      assert.include(
        yield* reasonOf(Serve.parse(input({ defaultTtl: Duration.hours(2) }))),
        "--default-ttl 2h0m0s is above --max-ttl 1h0m0s"
      )
      assert.include(
        yield* reasonOf(Serve.parse(input({ defaultTtl: Duration.millis(500) }))),
        "--default-ttl"
      )
    })
  )

  it.effect("--max-entries must be at least 1", () =>
    Effect.gen(function* () {
      assert.include(yield* reasonOf(Serve.parse(input({ maxEntries: 0 }))), "--max-entries")
      assert.strictEqual((yield* Serve.parse(input({ maxEntries: 1 }))).maxEntries, 1)
    })
  )

  it.effect("the bound flags: the server's defaults, at least 1, named when wrong", () =>
    Effect.gen(function* () {
      const { BOUND_DEFAULTS: DEFAULTS } = yield* Effect.promise(() => import("../../src/Server/Config.js"))
      assert.deepStrictEqual((yield* Serve.parse(input())).bounds, DEFAULTS)
      const given = yield* Serve.parse(input({ bounds: { maxClusters: 5, maxLongPollsPerClient: 2 } }))
      assert.deepStrictEqual(given.bounds, { ...DEFAULTS, maxClusters: 5, maxLongPollsPerClient: 2 })
      assert.include(
        yield* reasonOf(Serve.parse(input({ bounds: { maxNewClustersPerMinute: 0 } }))),
        "--max-new-clusters-per-minute must be a whole number of at least 1, got 0"
      )
      assert.include(
        yield* reasonOf(Serve.parse(input({ bounds: { maxConnections: 1.5 } }))),
        "--max-connections"
      )
    })
  )

  it.effect("TLS flags go together", () =>
    Effect.gen(function* () {
      const some = Option.some
      assert.include(yield* reasonOf(Serve.parse(input({ tlscert: some("c.pem") }))), "--tlskey")
      assert.include(yield* reasonOf(Serve.parse(input({ tlskey: some("k.pem") }))), "--tlscert")
      assert.include(yield* reasonOf(Serve.parse(input({ tlsverify: true }))), "--tlscacert")
      assert.include(
        yield* reasonOf(Serve.parse(input({ tlscacert: some("ca.pem"), tlsverify: true }))),
        "--tlscert"
      )
      assert.include(
        yield* reasonOf(
          Serve.parse(input({ tlscert: some("c.pem"), tlskey: some("k.pem"), tlscacert: some("ca.pem") }))
        ),
        "--tlsverify"
      )
      const mutual = yield* Serve.parse(
        input({ tlscert: some("c.pem"), tlskey: some("k.pem"), tlscacert: some("ca.pem"), tlsverify: true })
      )
      assert.deepStrictEqual(
        mutual.tls,
        some({ cert: "c.pem", key: "k.pem", ca: some("ca.pem"), verify: true })
      )
    })
  )

  it("instructions use the short forms on the default address, full URLs elsewhere", () => {
    const local = ServeRun.instructions("http://127.0.0.1:8375/v1", false)
    assert.include(local, "TOKEN=$(npx swarm create)")
    assert.include(local, "npx swarm join --advertise 10.0.0.1:2375 token://$TOKEN")
    assert.include(local, "npx swarm list token://$TOKEN")
    const other = ServeRun.instructions("https://127.0.0.1:9999/v1", true)
    assert.include(other, "npx swarm create --url https://127.0.0.1:9999/v1")
    assert.include(other, "npx swarm list token://https://127.0.0.1:9999/v1/$TOKEN")
    assert.include(other, "token.cacert")
    assert.include(other, "other machines")
  })
})
