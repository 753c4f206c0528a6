/**
 * List and long-poll answers, built once per store snapshot. A store that reuses unchanged snapshots
 * (SQLite and memory do) gets its answers reused too: a snapshot belongs to one cluster, so its
 * answers are always the same objects, their bodies encoded once.
 */
import type { KvSnapshot } from "../KvStore.js"
import * as Api from "./Api.js"
import * as Registration from "./Console/Registration.js"

export type AnswerOf = (snapshot: KvSnapshot, route: Api.RouteName, cluster: string) => Api.Answer

export const make = (): AnswerOf => {
  const answers = new WeakMap<KvSnapshot, { readonly list: Api.Answer; readonly watch: Api.Answer }>()
  return (snapshot, route, cluster) => {
    let cached = answers.get(snapshot)
    if (cached === undefined) {
      const body = JSON.stringify(snapshot.pairs.map((p) => Registration.address(p.value)))
      const list: Api.Answer = {
        ...Api.listBody(body, snapshot.index),
        encoded: Buffer.from(body),
        route: "list",
        cluster
      }
      cached = { list, watch: { ...list, route: "watch" } }
      answers.set(snapshot, cached)
    }
    return route === "list" ? cached.list : route === "watch" ? cached.watch : { ...cached.list, route }
  }
}
