/**
 * Which instance of a token service to ask: the instances are tried in the
 * order given, from a sticky "current" one.
 *
 * - Every request starts at the current instance and, when it fails in a way
 *   another instance may not (no connection, no answer in time, a 5xx),
 *   moves on to the next, wrapping around, each instance at most once.
 * - A failure moves "current" past the failed instance (only if it still is
 *   the current one, so two requests failing together move it once), and it
 *   stays there: the process does not return to the first instance when it
 *   comes back, so a flapping instance costs one timeout, not one per request.
 *
 * In order, not shuffled: every client prefers the same healthy instance, so
 * a cluster's long-polls share that instance's one store watch, and an
 * operator can choose which instance takes the load by the order of the
 * list (or give groups of clients different orders to spread it).
 *
 * Pure: no I/O.
 */

export interface Rotation {
  readonly size: number
  /** The current instance. */
  readonly current: () => number
  /** The order for one request: the current instance, then each other once, wrapping around. */
  readonly order: () => ReadonlyArray<number>
  /** Instance `i` failed: move past it if it is still the current one; says whether the current one moved. */
  readonly failed: (i: number) => boolean
}

export const makeRotation = (size: number): Rotation => {
  let current = 0
  return {
    size,
    current: () => current,
    order: () => Array.from({ length: size }, (_, k) => (current + k) % size),
    failed: (i) => {
      if (i !== current || size === 1) return false
      current = (i + 1) % size
      return true
    }
  }
}

/**
 * Whether another instance may answer better than one that answered `status`: any 5xx (an instance cut off
 * from its store, overloaded or shutting down; 503 with `Retry-After` included: the other instance has its own
 * capacity). Not a 4xx: the request is wrong for every instance. Not 429 either: it limits this client, and
 * asking another instance would dodge the limit.
 */
export const failsOver = (status: number): boolean => status >= 500 && status <= 599
