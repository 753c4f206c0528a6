/**
 * A watch as a stream of blocking queries (`?recurse&index=N&wait=30s`).
 *
 * A snapshot is emitted whenever `X-Consul-Index` changes. When the index goes
 * backwards (a restore, a restarted agent, reaped tombstones) the query starts
 * over from 0, as Consul's docs say, and the emitted index is shifted so it
 * keeps growing. The first failure fails the stream (so `list` reports it);
 * later ones are logged and retried on the schedule, reading at once.
 */
import { Effect, Option, type Schedule, Stream } from "effect"
import type { KvError, KvSnapshot } from "../../KvStore.js"
import type { Client } from "./client.js"
import type { Kv } from "./kv.js"

interface State {
  /** The index to block on; 0 asks for an answer at once. */
  readonly waitIndex: number
  /** Consul's index of the last snapshot emitted (-1 before the first). */
  readonly seen: number
  /** The last index emitted, and the shift that keeps it growing after a reset. */
  readonly emitted: number
  readonly shift: number
}

const initial: State = { waitIndex: 0, seen: -1, emitted: 0, shift: 0 }

/** One query, and what it means: maybe a snapshot to emit, and the next state. */
const poll = (kv: Kv, client: Client, prefix: string, state: State) =>
  Effect.map(
    // A blocking query has its own, longer deadline.
    state.waitIndex > 0
      ? kv.list(prefix, { index: state.waitIndex })
      : client.deadline(`a list of ${prefix}`, kv.list(prefix)),
    (snapshot): readonly [Option.Option<KvSnapshot>, State] => {
      if (state.waitIndex > 0 && snapshot.index < state.waitIndex) {
        // The index went backwards: start over with a query that answers at once.
        return [Option.none(), { ...state, waitIndex: 0 }]
      }
      if (snapshot.index === state.seen) return [Option.none(), { ...state, waitIndex: snapshot.index }]
      const shift =
        snapshot.index + state.shift <= state.emitted ? state.emitted + 1 - snapshot.index : state.shift
      const emitted = snapshot.index + shift
      return [
        Option.some({ pairs: snapshot.pairs, index: emitted }),
        { waitIndex: snapshot.index, seen: snapshot.index, emitted, shift }
      ]
    }
  )

export const watch = (
  kv: Kv,
  client: Client,
  prefix: string,
  retry: Schedule.Schedule<unknown, KvError>
): Stream.Stream<KvSnapshot, KvError> => {
  const resilient = (state: State) =>
    Effect.suspend(() => {
      let attempt = state
      return Effect.suspend(() => poll(kv, client, prefix, attempt)).pipe(
        Effect.tapError((error) => {
          // After a failure the agent may be a new one: read at once.
          attempt = { ...state, waitIndex: 0 }
          return Effect.logWarning(`watching ${prefix} on Consul failed, retrying: ${error.message}`)
        }),
        Effect.retry(retry)
      )
    })
  const step = (state: State) =>
    Effect.map(state.seen < 0 ? poll(kv, client, prefix, state) : resilient(state), (result) =>
      Option.some(result)
    )
  return Stream.unfoldEffect(initial, step).pipe(Stream.filterMap((snapshot) => snapshot))
}
