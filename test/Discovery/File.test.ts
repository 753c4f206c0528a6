import { FileSystem } from "@effect/platform"
import { SystemError } from "@effect/platform/Error"
import { NodeFileSystem } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Either, Fiber, Layer, Logger, Option, Queue, Ref, Stream, TestClock } from "effect"
import * as NodeFs from "node:fs"
import * as Os from "node:os"
import * as NodePath from "node:path"
import * as Discovery from "../../src/Discovery.js"
import * as Entries from "../../src/Entries.js"
import * as Entry from "../../src/Entry.js"
import * as File from "../../src/Discovery/File.js"

const HEARTBEAT = Duration.seconds(10)
const options = Either.getOrThrow(Discovery.resolveOptions({ heartbeat: HEARTBEAT }))
const keys = (entries: Entries.Entries) => Entries.format(entries)

describe("File.parseContent", () => {
  const parse = (content: string) => File.parseContent("/etc/cluster", content)

  it("skips comments and blank lines, trims whitespace, expands ranges", () => {
    const content = [
      "# whole-line comment",
      "",
      "   10.0.0.1:2375   ",
      "\t10.0.0.[2:3]:2375 # inline comment",
      "   # indented comment",
      "[2001:db8::1]:2375#no space before the comment",
      "192.168.1.2:[2:3]375",
      "    ",
      "10.0.0.1:2375"
    ].join("\n")
    assert.deepStrictEqual(keys(Either.getOrThrow(parse(content))), [
      "10.0.0.1:2375",
      "10.0.0.2:2375",
      "10.0.0.3:2375",
      "192.168.1.2:2375",
      "192.168.1.2:3375",
      "[2001:db8::1]:2375"
    ])
  })

  it("accepts CRLF line endings", () => {
    assert.deepStrictEqual(keys(Either.getOrThrow(parse("a:1\r\nb:2\r\n"))), ["a:1", "b:2"])
  })

  it("an empty or comment-only file is an empty set", () => {
    assert.deepStrictEqual(Either.getOrThrow(parse("")), [])
    assert.deepStrictEqual(Either.getOrThrow(parse("# nobody yet\n\n")), [])
  })

  it("a bad line names the path, the line number and the value", () => {
    const result = parse("# header\na:1\n\nnot-an-address # oops\n")
    assert.isTrue(Either.isLeft(result))
    if (Either.isLeft(result)) {
      assert.strictEqual(result.left._tag, "InvalidEntry")
      assert.include(result.left.message, "/etc/cluster line 4")
      assert.include(result.left.message, '"not-an-address"')
    }
  })

  it("a bad range names the path and line", () => {
    const result = parse("a:1\nb.[3:1]:2\n")
    assert.isTrue(Either.isLeft(result))
    if (Either.isLeft(result)) {
      assert.strictEqual(result.left._tag, "InvalidRange")
      assert.include(result.left.message, "/etc/cluster line 2")
      assert.include(result.left.message, "reversed")
    }
  })
})

/** A file system holding one mutable file; every read is reported on `reads`. */
const fakeFs = (path: string, content: Ref.Ref<Option.Option<string>>, reads: Queue.Queue<void>) =>
  FileSystem.layerNoop({
    readFileString: (p) =>
      Effect.flatMap(Ref.get(content), (current) =>
        Queue.offer(reads, undefined).pipe(
          Effect.zipRight(
            p === path && Option.isSome(current)
              ? Effect.succeed(current.value)
              : Effect.fail(
                  new SystemError({
                    module: "FileSystem",
                    method: "readFileString",
                    reason: "NotFound",
                    pathOrDescriptor: p
                  })
                )
          )
        )
      ),
    watch: () => Stream.never
  })

describe("file:// through Discovery.make", () => {
  it.scoped("reads through the FileSystem in the context", () =>
    Effect.gen(function* () {
      const content = yield* Ref.make(Option.some("10.0.0.1:2375\n10.0.0.[2:3]:2375\n"))
      const reads = yield* Queue.unbounded<void>()
      const discovery = yield* Discovery.make(`file://${PATH}`, { heartbeat: HEARTBEAT }).pipe(
        Effect.provide(fakeFs(PATH, content, reads))
      )
      const first = yield* Stream.runHead(discovery.watch)
      assert.deepStrictEqual(keys(Option.getOrThrow(first)), [
        "10.0.0.1:2375",
        "10.0.0.2:2375",
        "10.0.0.3:2375"
      ])
      assert.isAtLeast(yield* Queue.size(reads), 1)
    })
  )

  it("a 100,000-line file parses: explicit addresses are not capped, one range still is", () => {
    const lines = Array.from({ length: 100_000 }, (_, i) => `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}:2375`)
    assert.strictEqual(Either.getOrThrow(File.parseContent(PATH, lines.join("\n"))).length, 100_000)
    const wide = File.parseContent(PATH, "a:1\n10.[0:255].[0:255].[0:255]:2375\n")
    assert.isTrue(Either.isLeft(wide))
    if (Either.isLeft(wide)) {
      assert.include(wide.left.message, "more than the limit of 65536")
      assert.include(wide.left.message, `${PATH} line 2`)
    }
  })
})

const logs = (sink: Array<string>) =>
  Logger.replace(
    Logger.defaultLogger,
    Logger.make(({ logLevel, message }) => {
      sink.push(`${logLevel.label} ${Array.isArray(message) ? message.join(" ") : String(message)}`)
    })
  )

const PATH = "/srv/swarm/cluster"

/** Starts the backend over the fake file system and collects what `watch` emits. */
const setup = (initial: Option.Option<string>) =>
  Effect.gen(function* () {
    const content = yield* Ref.make(initial)
    const reads = yield* Queue.unbounded<void>()
    const out = yield* Queue.unbounded<ReadonlyArray<string>>()
    const discovery = yield* File.makeWith(PATH, options).pipe(Effect.provide(fakeFs(PATH, content, reads)))
    const set = (text: string | undefined) => Ref.set(content, Option.fromNullable(text))
    const start = Effect.forkScoped(
      Stream.runForEach(discovery.watch, (entries) => Queue.offer(out, keys(entries)))
    )
    /** One heartbeat, waiting until the backend has read the file. */
    const beat = Effect.zipRight(TestClock.adjust(HEARTBEAT), Queue.take(reads))
    return { discovery, set, start, reads, out, beat }
  })

describe("file:// over a fake file system (TestClock)", () => {
  it.scoped("re-reads every heartbeat and emits only when the set changes", () =>
    Effect.gen(function* () {
      const t = yield* setup(Option.some("a:1\nb:2\n"))
      yield* t.start
      yield* Queue.take(t.reads)
      assert.deepStrictEqual(yield* Queue.take(t.out), ["a:1", "b:2"])

      // Unchanged, then the same set reordered with a comment: no emission.
      yield* t.beat
      yield* t.set("# reordered\nb:2\na:1 # same\n")
      yield* t.beat
      // A real change: the next emission is this one, so nothing came in between.
      yield* t.set("a:1\nc:3\n")
      yield* t.beat
      assert.deepStrictEqual(yield* Queue.take(t.out), ["a:1", "c:3"])
      assert.strictEqual(yield* Queue.size(t.out), 0)
    })
  )

  it.scoped("does not read again before the heartbeat", () =>
    Effect.gen(function* () {
      const t = yield* setup(Option.some("a:1\n"))
      yield* t.start
      yield* Queue.take(t.reads)
      yield* TestClock.adjust(Duration.subtract(HEARTBEAT, Duration.millis(1)))
      for (let i = 0; i < 20; i++) yield* Effect.yieldNow()
      assert.strictEqual(yield* Queue.size(t.reads), 0)
      yield* TestClock.adjust(Duration.millis(1))
      yield* Queue.take(t.reads)
      for (let n = 0; n < 5; n++) yield* t.beat
    })
  )

  it.scoped("a missing file on the first read fails the stream, naming the path", () =>
    Effect.gen(function* () {
      const t = yield* setup(Option.none())
      const error = yield* Effect.flip(Stream.runCollect(t.discovery.watch))
      assert.strictEqual(error._tag, "Unavailable")
      if (error._tag === "Unavailable") {
        assert.strictEqual(error.reason, "FileSystem")
        assert.include(error.detail, PATH)
        assert.include(error.detail, "no such file")
      }
      assert.include(error.message, PATH)
    })
  )

  it.scoped("a bad line on the first read fails the stream with path and line", () =>
    Effect.gen(function* () {
      const t = yield* setup(Option.some("a:1\nb:0\n"))
      const error = yield* Effect.flip(Stream.runCollect(t.discovery.watch))
      assert.strictEqual(error._tag, "InvalidEntry")
      assert.include(error.message, `${PATH} line 2`)
      assert.include(error.message, '"b:0"')
    })
  )

  it.scoped("a file that goes missing later is logged once, and the stream recovers when it is back", () => {
    const sink: Array<string> = []
    return Effect.gen(function* () {
      const t = yield* setup(Option.some("a:1\n"))
      yield* t.start
      yield* Queue.take(t.reads)
      assert.deepStrictEqual(yield* Queue.take(t.out), ["a:1"])

      yield* t.set(undefined)
      yield* t.beat
      yield* t.beat
      yield* t.beat
      // A bad edit is treated the same way.
      yield* t.set("a:1\nnonsense\n")
      yield* t.beat
      yield* t.set("a:1\nb:2\n")
      yield* t.beat
      assert.deepStrictEqual(yield* Queue.take(t.out), ["a:1", "b:2"])
      assert.strictEqual(yield* Queue.size(t.out), 0)

      const warnings = sink.filter((line) => line.startsWith("WARN"))
      assert.strictEqual(warnings.length, 2, warnings.join("\n"))
      assert.include(warnings[0]!, PATH)
      assert.include(warnings[0]!, "no such file")
      assert.include(warnings[1]!, `${PATH} line 2`)
      assert.isTrue(sink.some((line) => line.startsWith("INFO") && line.includes("readable again")))
    }).pipe(Effect.provide(logs(sink)))
  })

  it.scoped("after recovery with the same set, nothing is emitted", () =>
    Effect.gen(function* () {
      const t = yield* setup(Option.some("a:1\n"))
      yield* t.start
      yield* Queue.take(t.reads)
      yield* Queue.take(t.out)
      yield* t.set(undefined)
      yield* t.beat
      yield* t.set("a:1\n")
      yield* t.beat
      yield* t.set("a:2\n")
      yield* t.beat
      assert.deepStrictEqual(yield* Queue.take(t.out), ["a:2"])
    })
  )

  it.scoped("register and deregister fail as not implemented", () =>
    Effect.gen(function* () {
      const t = yield* setup(Option.some("a:1\n"))
      assert.isTrue(t.discovery.readOnly)
      const error = yield* Effect.flip(t.discovery.register(Entry.make("a", 1)))
      assert.strictEqual(error._tag, "NotImplemented")
      assert.include(error.message, "file")
      assert.strictEqual(
        (yield* Effect.flip(t.discovery.deregister(Entry.make("a", 1))))._tag,
        "NotImplemented"
      )
    })
  )
})

/** Node's file system, with reads reported and change notifications off (so only the clock drives reads). */
const countingNodeFs = (reads: Queue.Queue<void>) =>
  Layer.effect(
    FileSystem.FileSystem,
    Effect.map(FileSystem.FileSystem, (fs) => ({
      ...fs,
      readFileString: (path: string, encoding?: string) =>
        fs.readFileString(path, encoding).pipe(Effect.ensuring(Queue.offer(reads, undefined))),
      watch: () => Stream.never
    }))
  ).pipe(Layer.provide(NodeFileSystem.layer))

const tempDir = Effect.acquireRelease(
  Effect.sync(() => NodeFs.mkdtempSync(NodePath.join(Os.tmpdir(), "swarm-file-test-"))),
  (dir) => Effect.sync(() => NodeFs.rmSync(dir, { recursive: true, force: true }))
)

describe("file:// over a real temp file", () => {
  it.scoped("re-reads at the heartbeat, emits on change, reports a missing file and recovers", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const path = NodePath.join(dir, "cluster")
      NodeFs.writeFileSync(path, "# cluster\n10.0.0.[1:2]:2375\n")
      const reads = yield* Queue.unbounded<void>()
      const out = yield* Queue.unbounded<ReadonlyArray<string>>()
      const discovery = yield* File.makeWith(path, options).pipe(Effect.provide(countingNodeFs(reads)))
      yield* Effect.forkScoped(Stream.runForEach(discovery.watch, (e) => Queue.offer(out, keys(e))))
      const beat = Effect.zipRight(TestClock.adjust(HEARTBEAT), Queue.take(reads))

      yield* Queue.take(reads)
      assert.deepStrictEqual(yield* Queue.take(out), ["10.0.0.1:2375", "10.0.0.2:2375"])
      yield* beat
      NodeFs.writeFileSync(path, "10.0.0.1:2375\n10.0.0.3:2375\n")
      yield* beat
      assert.deepStrictEqual(yield* Queue.take(out), ["10.0.0.1:2375", "10.0.0.3:2375"])
      NodeFs.rmSync(path)
      yield* beat
      NodeFs.writeFileSync(path, "10.0.0.9:2375\n")
      yield* beat
      assert.deepStrictEqual(yield* Queue.take(out), ["10.0.0.9:2375"])
    })
  )

  it.scoped("Discovery.make('file:///missing') fails with the path", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const path = NodePath.join(dir, "nope")
      const error = yield* Effect.flip(
        Effect.flatMap(Discovery.make(`file://${path}`), (d) => Stream.runHead(d.watch))
      )
      assert.strictEqual(error._tag, "Unavailable")
      assert.include(error.message, path)
    })
  )

  it.scoped("file:// without a path is an invalid URL", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(Discovery.make("file://"))
      assert.strictEqual(error._tag, "InvalidUrl")
    })
  )

  // The only test that waits on the real clock: it checks that a change on
  // disk is picked up long before the (one hour) heartbeat.
  it.live("reacts to a change on disk without waiting for the heartbeat", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const dir = yield* tempDir
        const path = NodePath.join(dir, "cluster")
        NodeFs.writeFileSync(path, "a:1\n")
        const out = yield* Queue.unbounded<ReadonlyArray<string>>()
        const discovery = yield* File.make(
          path,
          Either.getOrThrow(Discovery.resolveOptions({ heartbeat: Duration.hours(1) }))
        )
        const fiber = yield* Effect.forkScoped(
          Stream.runForEach(discovery.watch, (e) => Queue.offer(out, keys(e)))
        )
        assert.deepStrictEqual(yield* Queue.take(out), ["a:1"])
        // Give the directory watch a moment to be armed, then edit the file.
        yield* Effect.sleep(Duration.millis(100))
        NodeFs.writeFileSync(path, "a:1\nb:2\n")
        const next = yield* Queue.take(out).pipe(Effect.timeout(Duration.seconds(10)))
        assert.deepStrictEqual(next, ["a:1", "b:2"])
        yield* Fiber.interrupt(fiber)
      })
    )
  )
})
