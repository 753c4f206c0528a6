import { assert, describe, it } from "@effect/vitest"
import { Chunk, Duration, Effect, Stream } from "effect"
import * as Watch from "../../src/Cli/Watch.js"
import * as Entries from "../../src/Entries.js"
import * as Entry from "../../src/Entry.js"

const set = (...addresses: ReadonlyArray<string>) =>
  Entries.fromIterable(
    addresses.map((a) => Entry.make(a.slice(0, a.lastIndexOf(":")), Number(a.split(":").pop())))
  )

const render = (snapshots: ReadonlyArray<Entries.Entries>, format: "text" | "json") =>
  Watch.events(Stream.fromIterable(snapshots)).pipe(
    Stream.runCollect,
    Effect.map((events) => Chunk.toReadonlyArray(events).flatMap((event) => Watch.render(event, format)))
  )

describe("swarm watch", () => {
  it.effect("prints the members, then + and - lines, and nothing for a repeat", () =>
    Effect.gen(function* () {
      const lines = yield* render(
        [set("a:1", "b:2"), set("a:1", "b:2"), set("b:2", "c:3"), set("b:2", "c:3"), set()],
        "text"
      )
      assert.deepStrictEqual(lines, ["a:1", "b:2", "- a:1", "+ c:3", "- b:2", "- c:3"])
    })
  )

  it.effect("JSON: one object per line, the first holding the members even when there are none", () =>
    Effect.gen(function* () {
      const lines = yield* render([set(), set("a:1")], "json")
      assert.deepStrictEqual(
        lines.map((l) => JSON.parse(l)),
        [
          { added: [], removed: [] },
          { added: ["a:1"], removed: [] }
        ]
      )
    })
  )
})

describe("swarm watch: what it says it does", () => {
  it("names each backend's way of hearing of changes; only polling names the heartbeat", () => {
    const every = Duration.seconds(20)
    const cases: ReadonlyArray<readonly [string, string]> = [
      [
        "token://0123456789abcdef0123456789abcdef",
        "long-poll, falling back to polling every 20s when the server sends no X-Discovery-Index"
      ],
      ["etcd://127.0.0.1:2379/p", "etcd watch"],
      ["zk://127.0.0.1:2181/p", "ZooKeeper watch"],
      ["consul://127.0.0.1:8500/p", "Consul blocking queries"],
      ["file:///tmp/cluster", "file watch, and a re-read every 20s"],
      ["memory://x", "in-process memory store, changes at once"],
      ["nodes://a:1", "a static list, it does not change"],
      ["a:1,b:2", "a static list, it does not change"]
    ]
    for (const [url, how] of cases) assert.strictEqual(Watch.how(url, every), how, url)
  })
})
