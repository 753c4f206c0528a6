/**
 * Endpoint skipping and retries for the etcd3 client: a member that fails at transport level is skipped
 * while another is not, for 1 s doubling while it keeps failing; nothing is skipped when all fail; each
 * attempt gets part of the timeout. The clock is a variable: the policies read `now`, they do not wait.
 */
import { assert, describe, it } from "vitest"
import { EtcdError, GRPCDeadlineExceededError, GRPCUnavailableError } from "etcd3"
import * as FaultHandling from "../../../src/internal/etcd/faultHandling.js"

type Executable = { execute: <T>(fn: () => Promise<T> | T) => Promise<T> }
const asExecutable = (p: unknown) => p as Executable

const hosts = ["http://a:2379", "http://b:2379", "http://c:2379"]
const setup = () => {
  let t = 1_000_000
  const eps = FaultHandling.endpoints(hosts, () => t)
  const calls: Array<string> = []
  const run = (host: string, outcome: "ok" | Error) =>
    asExecutable(eps.of(host)).execute(async () => {
      calls.push(host)
      if (outcome !== "ok") throw outcome
      return host
    })
  return { eps, calls, run, advance: (ms: number) => (t += ms) }
}

describe("etcd endpoint fault handling", () => {
  it("an attempt gets part of the timeout with several endpoints, all of it with one", () => {
    assert.strictEqual(FaultHandling.attemptMillis(5_000, 1), 5_000)
    assert.strictEqual(FaultHandling.attemptMillis(5_000, 3), 2_000)
    assert.strictEqual(FaultHandling.attemptMillis(2_000, 3), 1_000, "never under 1 s")
    assert.strictEqual(FaultHandling.attemptMillis(600, 3), 600, "never over the timeout")
  })

  it("a put or a delete (a transaction's too) gets the whole timeout in one attempt (a retry would misreport it); reads and group commits a share", () => {
    const deadline = FaultHandling.attemptDeadline(5_000, 3)
    const left = (context: Parameters<typeof deadline>[0]) => (deadline(context).deadline ?? NaN) - Date.now()
    const read = left({ service: "KV", method: "range", isStream: false, params: {} } as never)
    const put = left({ service: "KV", method: "put", isStream: false, params: {} } as never)
    const del = left({ service: "KV", method: "deleteRange", isStream: false, params: {} } as never)
    assert.approximately(read, FaultHandling.attemptMillis(5_000, 3), 50)
    assert.approximately(put, 5_000, 50)
    assert.approximately(del, 5_000, 50)
    // A delete guarded by a compare is a transaction (writes.ts); a group commit's puts are retried.
    const deleteTxn = { success: [{ request_delete_range: { key: Buffer.from("k") } }] }
    const putTxn = { success: [{ request_put: { key: Buffer.from("k"), value: Buffer.from("v") } }] }
    assert.approximately(
      left({ service: "KV", method: "txn", isStream: false, params: deleteTxn } as never),
      5_000,
      50
    )
    assert.approximately(
      left({ service: "KV", method: "txn", isStream: false, params: putTxn } as never),
      FaultHandling.attemptMillis(5_000, 3),
      50
    )
    assert.deepStrictEqual(deadline({ service: "Watch", method: "watch", isStream: true } as never), {})
  })

  it("a member that missed a deadline is skipped while another is up, without being called", async () => {
    const { eps, calls, run } = setup()
    await run(hosts[0]!, new GRPCDeadlineExceededError("deadline")).catch(() => undefined)
    assert.isTrue(eps.skipped(hosts[0]!))
    const skipped = await run(hosts[0]!, "ok").catch((e: unknown) => e)
    assert.instanceOf(skipped, FaultHandling.EndpointSkipped)
    assert.include((skipped as Error).message, hosts[0]!)
    assert.strictEqual(await run(hosts[1]!, "ok"), hosts[1])
    assert.deepStrictEqual(calls, [hosts[0], hosts[1]], "the skipped member was not called again")
  })

  it("when every member failed, none is skipped", async () => {
    const { calls, run } = setup()
    for (const h of hosts) await run(h, new GRPCUnavailableError("down")).catch(() => undefined)
    assert.strictEqual(await run(hosts[2]!, "ok"), hosts[2])
    assert.deepStrictEqual(calls, [...hosts, hosts[2]])
  })

  it("the skip doubles while the member keeps failing, and a success clears it", async () => {
    const { eps, run, advance } = setup()
    const down = () => run(hosts[0]!, new GRPCUnavailableError("down")).catch(() => undefined)
    await down()
    advance(999)
    assert.isTrue(eps.skipped(hosts[0]!))
    advance(1)
    assert.isFalse(eps.skipped(hosts[0]!), "1 s after the first failure it is tried again")
    await down()
    advance(1_999)
    assert.isTrue(eps.skipped(hosts[0]!), "a second failure in a row: 2 s")
    advance(1)
    assert.strictEqual(await run(hosts[0]!, "ok"), hosts[0])
    await down()
    advance(1_000)
    assert.isFalse(eps.skipped(hosts[0]!), "after a success the next failure skips 1 s again")
  })

  it("an answer from etcd (not a transport failure) does not skip the member", async () => {
    const { eps, run } = setup()
    await run(hosts[0]!, new EtcdError("etcdserver: requested lease not found")).catch(() => undefined)
    assert.isFalse(eps.skipped(hosts[0]!))
  })

  it("retries transport failures up to the attempts, nothing else", async () => {
    let tries = 0
    const flaky = asExecutable(FaultHandling.retrying(3)).execute(async () => {
      if (++tries < 3) throw new GRPCUnavailableError("down")
      return "ok"
    })
    assert.strictEqual(await flaky, "ok")
    assert.strictEqual(tries, 3)
    tries = 0
    const refused = await asExecutable(FaultHandling.retrying(3))
      .execute(async () => {
        tries++
        throw new EtcdError("etcdserver: permission denied")
      })
      .catch((e: unknown) => e)
    assert.instanceOf(refused, EtcdError)
    assert.strictEqual(tries, 1)
  })
})
