/** The etcd store's shared writes (`writes.ts`) over a connection, without puts with a TTL: for tests of deletes and plain puts. */
import { Effect } from "effect"
import type * as Connection from "../../src/internal/etcd/connection.js"
import * as Counts from "../../src/internal/etcd/counts.js"
import * as Followed from "../../src/internal/etcd/followed.js"
import * as Requests from "../../src/internal/etcd/requests.js"
import * as Writes from "../../src/internal/etcd/writes.js"

export const writesOver = (conn: Connection.Connection) =>
  Writes.make(conn, Counts.make(Requests.make(conn).count), Requests.make(conn), Followed.make(), {
    putWithTtl: () => Effect.dieMessage("not used"),
    released: () => Effect.void,
    held: () => 0,
    spares: () => 0,
    leasePerKey: false
  })
