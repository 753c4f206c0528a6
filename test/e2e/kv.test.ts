/**
 * `etcd://` and `zk://` end to end, with real processes: three `swarm join`,
 * `swarm list` and `swarm watch` from a fourth, a SIGTERM leave and a
 * `kill -9` expiry, all from dist/swarm.cjs against a real etcd / ZooKeeper
 * on free loopback ports; the CLI's key layout `<prefix>/docker/swarm/nodes/<addr>`
 * read back and written with the raw etcd3 / node-zookeeper-client clients (as Go
 * swarm would); and an unreachable server at startup.
 */
import { afterAll, afterEach, assert, beforeAll, describe, it } from "@effect/vitest"
import { Etcd3 } from "etcd3"
import { createRequire } from "node:module"
import { assertBuilt, runSwarm, spawnSwarm, startCost, stopAll, type SwarmProcess } from "../support/cli.js"
import { type EtcdServer, etcdAvailable, startEtcd } from "../support/etcd.js"
import { sleep } from "../support/kv-server.js"
import { freePort, refusedPort } from "../support/net.js"
import { startZookeeper, type ZookeeperServer, zookeeperAvailable } from "../support/zookeeper.js"

const haveEtcd = etcdAvailable()
const haveZk = zookeeperAvailable()
const lines = (text: string) => text.split("\n").filter((l) => l !== "")
const zookeeper = createRequire(import.meta.url)("node-zookeeper-client")

/** What a raw client sees, and what it writes the way Go swarm's libkv does. */
interface RawKv {
  /** Every key under the prefix, with its value. */
  readonly entries: (prefix: string) => Promise<Record<string, string>>
  readonly put: (key: string, value: string) => Promise<void>
  readonly close: () => void
}

const rawEtcd = (endpoint: string): RawKv => {
  const client = new Etcd3({ hosts: `http://${endpoint}` })
  return {
    entries: (prefix) => client.getAll().prefix(prefix).strings(),
    put: async (key, value) => void (await client.put(key).value(value)),
    close: () => client.close()
  }
}

const rawZookeeper = async (endpoint: string): Promise<RawKv> => {
  const client = zookeeper.createClient(endpoint, { sessionTimeout: 5000 })
  await new Promise<void>((resolve) => {
    client.once("connected", () => resolve())
    client.connect()
  })
  const call = <A>(f: (done: (error: unknown, result?: A) => void) => void) =>
    new Promise<A>((resolve, reject) => f((error, result) => (error ? reject(error) : resolve(result!))))
  const entries = async (prefix: string): Promise<Record<string, string>> => {
    const out: Record<string, string> = {}
    const walk = async (path: string): Promise<void> => {
      const data = await call<Buffer | undefined>((done) => client.getData(path, done))
      const children = await call<Array<string>>((done) => client.getChildren(path, done))
      if (children.length === 0) out[path] = data?.toString("utf8") ?? ""
      for (const child of children) await walk(`${path}/${child}`)
    }
    await walk(prefix)
    return out
  }
  return {
    entries,
    put: (key, value) =>
      call<void>((done) => client.mkdirp(key, Buffer.from(value), done)).then(() => undefined),
    close: () => client.close()
  }
}

/**
 * The CLI's layout: `swarm join` writes `<prefix>/docker/swarm/nodes/<addr>` = `<addr>` by default; `swarm list`
 * reads a node written there by another client; `--discovery-opt kv.path=` moves both.
 */
const cliLayout = async (url: string, root: string, raw: RawKv) => {
  const ours = "10.0.1.1:2375"
  const joiner = join(url, ours, "20s")
  try {
    await listUntil(url, [ours])
    assert.deepStrictEqual(await raw.entries(root), { [`${root}/docker/swarm/nodes/${ours}`]: ours })
    // A node written by someone else in the same layout (Go swarm), and one in Docker Engine's layout.
    const theirs = "[2001:db8::9]:2375"
    await raw.put(`${root}/docker/swarm/nodes/${theirs}`, theirs)
    await raw.put(`${root}/docker/nodes/10.0.9.9:2375`, "10.0.9.9:2375")
    await listUntil(url, [ours, theirs])
    const engine = await runSwarm(["list", url, "--discovery-opt", "kv.path=docker/nodes"])
    assert.strictEqual(engine.code, 0, engine.stderr)
    assert.deepStrictEqual(lines(engine.stdout), ["10.0.9.9:2375"])
    // join with kv.path writes there instead.
    const moved = spawnSwarm([
      "join",
      "--advertise",
      "10.0.1.2:2375",
      "--heartbeat",
      "1s",
      "--ttl",
      "20s",
      "--discovery-opt",
      "kv.path=/custom/members/",
      url
    ])
    const custom = `${root}/custom/members/10.0.1.2:2375`
    const deadline = Date.now() + 15_000
    while ((await raw.entries(root))[custom] === undefined) {
      if (Date.now() > deadline) throw new Error(`${custom} never appeared`)
      await sleep(100)
    }
    assert.strictEqual((await raw.entries(root))[custom], "10.0.1.2:2375")
    moved.kill("SIGTERM")
    assert.strictEqual((await moved.exited).code, 0)
  } finally {
    joiner.kill("SIGTERM")
    await joiner.exited
  }
}

beforeAll(() => assertBuilt())
afterEach(() => stopAll())

/** Runs `swarm list` until it prints exactly `expected` (any order), or fails with the last output. */
const listUntil = async (url: string, expected: ReadonlyArray<string>, timeoutMs = 15_000) => {
  const deadline = Date.now() + timeoutMs
  let last = ""
  for (;;) {
    const result = await runSwarm(["list", url, "--timeout", "5s"])
    last = `code ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`
    const got = lines(result.stdout)
    if (result.code === 0 && got.length === expected.length && expected.every((e) => got.includes(e))) return
    if (Date.now() > deadline)
      throw new Error(`swarm list ${url} never printed ${expected.join(",")}; last:\n${last}`)
    await sleep(200)
  }
}

const join = (url: string, address: string, ttl = "3s") =>
  spawnSwarm(["join", "--advertise", address, "--heartbeat", "1s", "--ttl", ttl, url])

/** The shared scenario: three joiners, a watcher, a SIGTERM leave and a kill -9 expiry. */
const scenario = async (
  url: string,
  expiryMs: number,
  checkLayout: (addresses: ReadonlyArray<string>) => Promise<void>
) => {
  const addresses = ["10.0.0.1:2375", "10.0.0.2:2375", "[2001:db8::3]:2375"]
  const joiners: Array<SwarmProcess> = addresses.map((a) => join(url, a))
  await listUntil(url, addresses)
  await checkLayout(addresses)

  const watch = spawnSwarm(["watch", url])
  // The first lines are the current members.
  for (const a of addresses) await watch.waitForLine("stdout", (l) => l === a)
  const json = await runSwarm(["list", url, "--format", "json"])
  assert.strictEqual(json.code, 0, json.stderr)
  assert.sameMembers(JSON.parse(json.stdout), addresses)

  // SIGTERM: the joiner deregisters and exits 0; the watcher sees it leave at once (not after the TTL).
  const left = Date.now()
  joiners[0]!.kill("SIGTERM")
  const exit = await joiners[0]!.exited
  assert.strictEqual(exit.code, 0, exit.stderr)
  await watch.waitForLine("stdout", `- ${addresses[0]}`, { timeoutMs: 2_500 })
  assert.isBelow(Date.now() - left, 2_500)
  await listUntil(url, addresses.slice(1), 5_000)

  // kill -9: no leave; the entry goes when its TTL (lease, or session) runs out.
  joiners[1]!.kill("SIGKILL")
  await joiners[1]!.exited
  await watch.waitForLine("stdout", `- ${addresses[1]}`, { timeoutMs: expiryMs })
  await listUntil(url, addresses.slice(2), 5_000)
  // The third joiner was never reported gone.
  assert.notInclude(watch.lines.stdout, `- ${addresses[2]}`)
  watch.kill("SIGTERM")
  joiners[2]!.kill("SIGTERM")
  assert.strictEqual((await joiners[2]!.exited).code, 0)
}

describe.skipIf(!haveEtcd)("e2e: etcd://", () => {
  let server: EtcdServer
  beforeAll(async () => {
    server = await startEtcd()
  })
  afterAll(async () => {
    await server?.dispose()
  })

  it("three joins, list and watch from a fourth process, SIGTERM leave, kill -9 expiry", async () => {
    const prefix = `e2e${process.pid}`
    await scenario(`etcd://${server.endpoint}/${prefix}`, 8_000, async (addresses) => {
      // The CLI's layout: <prefix>/docker/swarm/nodes/<host:port>.
      const keys = lines(await server.etcdctl("get", "--prefix", "--keys-only", `${prefix}/`))
      assert.sameMembers(
        keys,
        addresses.map((a) => `${prefix}/docker/swarm/nodes/${a}`)
      )
    })
    // Every joiner has left or expired: nothing is left behind.
    assert.deepStrictEqual(lines(await server.etcdctl("get", "--prefix", "--keys-only", `${prefix}/`)), [])
  }, 60_000)

  it("the CLI's key layout <prefix>/docker/swarm/nodes/<addr>, checked with a raw etcd3 client", async () => {
    const raw = rawEtcd(server.endpoint)
    try {
      await cliLayout(`etcd://${server.endpoint}/layout${process.pid}`, `layout${process.pid}`, raw)
    } finally {
      raw.close()
    }
  }, 60_000)

  it("an unreachable etcd: list fails within its timeout naming the endpoint; join retries until etcd is up", async () => {
    const port = await freePort()
    const url = `etcd://127.0.0.1:${port}/late`
    const listed = await runSwarm(["list", url, "--timeout", "3s"])
    assert.notStrictEqual(listed.code, 0)
    assert.include(listed.stderr, `127.0.0.1:${port}`)
    // Within its 3s timeout, not etcd3's own retry loop: judged over a process that starts and fails at once
    // (bad input, exit 2), measured now, so a loaded machine's slow process start does not count against it.
    assert.isBelow(listed.ms - (await startCost()), 4_000)
    const joiner = join(url, "10.9.9.9:2375", "5s")
    await joiner.waitForLine("stderr", /retrying/i, { timeoutMs: 5_000 })
    const late = await startEtcd({ clientPort: port })
    try {
      await listUntil(url, ["10.9.9.9:2375"])
    } finally {
      joiner.kill("SIGTERM")
      await joiner.exited
      await late.dispose()
    }
  }, 60_000)
})

describe.skipIf(!haveZk)("e2e: zk://", () => {
  let server: ZookeeperServer
  beforeAll(async () => {
    server = await startZookeeper({ tickTime: 500 })
  })
  afterAll(async () => {
    await server?.dispose()
  })

  it("three joins, list and watch from a fourth process, SIGTERM leave, kill -9 expiry", async () => {
    // The TTL (3s) is the session timeout: a killed joiner's znode goes when ZooKeeper expires its session.
    const prefix = `e2e${process.pid}`
    await scenario(`zk://${server.endpoint}/${prefix}`, 10_000, async (addresses) => {
      // The CLI's layout, /<prefix>/docker/swarm/nodes/<host:port>, read by a second process through another path option.
      const listed = await runSwarm([
        "list",
        `zk://${server.endpoint}/${prefix}/docker`,
        "--discovery-opt",
        "kv.path=swarm/nodes"
      ])
      assert.sameMembers(lines(listed.stdout), [...addresses])
    })
  }, 60_000)

  it("the CLI's key layout /<prefix>/docker/swarm/nodes/<addr>, checked with a raw ZooKeeper client", async () => {
    const raw = await rawZookeeper(server.endpoint)
    try {
      await cliLayout(`zk://${server.endpoint}/layout${process.pid}`, `/layout${process.pid}`, raw)
    } finally {
      raw.close()
    }
  }, 60_000)

  it("an unreachable ZooKeeper: list fails with a message naming it", async () => {
    const port = await refusedPort()
    const listed = await runSwarm(["list", `zk://127.0.0.1:${port}/x`])
    assert.notStrictEqual(listed.code, 0)
    assert.include(listed.stderr, `127.0.0.1:${port}`)
    // docs/backends.md: one ZooKeeper call, connecting included, gives up after 5s; the baseline process
    // loads no ZooKeeper client, so allow it a second for that and for a loaded machine.
    assert.isBelow(listed.ms - (await startCost()), 6_000)
  }, 30_000)
})
