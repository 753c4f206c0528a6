/**
 * `etcd://` and `zk://` end to end, with real processes: three `swarm join`,
 * `swarm list` and `swarm watch` from a fourth, a SIGTERM leave and a
 * `kill -9` expiry, all from dist/swarm.cjs against a real etcd / ZooKeeper
 * on free loopback ports; and an unreachable server at startup.
 */
import { afterAll, afterEach, assert, beforeAll, describe, it } from "@effect/vitest"
import { assertBuilt, runSwarm, spawnSwarm, stopAll, type SwarmProcess } from "../support/cli.js"
import { type EtcdServer, etcdAvailable, startEtcd } from "../support/etcd.js"
import { sleep } from "../support/kv-server.js"
import { freePort } from "../support/net.js"
import { startZookeeper, type ZookeeperServer, zookeeperAvailable } from "../support/zookeeper.js"

const haveEtcd = etcdAvailable()
const haveZk = zookeeperAvailable()
const lines = (text: string) => text.split("\n").filter((l) => l !== "")

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
      // Swarm's layout: <prefix>/docker/nodes/<host:port>.
      const keys = lines(await server.etcdctl("get", "--prefix", "--keys-only", `${prefix}/`))
      assert.sameMembers(
        keys,
        addresses.map((a) => `${prefix}/docker/nodes/${a}`)
      )
    })
    // Every joiner has left or expired: nothing is left behind.
    assert.deepStrictEqual(lines(await server.etcdctl("get", "--prefix", "--keys-only", `${prefix}/`)), [])
  }, 60_000)

  it("an unreachable etcd: list fails within its timeout naming the endpoint; join retries until etcd is up", async () => {
    const port = await freePort()
    const url = `etcd://127.0.0.1:${port}/late`
    const listed = await runSwarm(["list", url, "--timeout", "3s"])
    assert.notStrictEqual(listed.code, 0)
    assert.include(listed.stderr, `127.0.0.1:${port}`)
    assert.isBelow(listed.ms, 4_000)
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
      // Swarm's layout, /<prefix>/docker/nodes/<host:port>, read by a second process through another path option.
      const listed = await runSwarm([
        "list",
        `zk://${server.endpoint}/${prefix}/docker`,
        "--discovery-opt",
        "kv.path=nodes"
      ])
      assert.sameMembers(lines(listed.stdout), [...addresses])
    })
  }, 60_000)

  it("an unreachable ZooKeeper: list fails with a message naming it", async () => {
    const port = await freePort()
    const listed = await runSwarm(["list", `zk://127.0.0.1:${port}/x`])
    assert.notStrictEqual(listed.code, 0)
    assert.include(listed.stderr, `127.0.0.1:${port}`)
    assert.isBelow(listed.ms, 10_000)
  }, 30_000)
})
