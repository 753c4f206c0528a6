/**
 * What the discovery server stores for one entry, and how the web console
 * learns each entry's registration time and time left.
 *
 * The value is `host:port ttl=<ms>`: the address plus the TTL it was
 * registered with (after clamping). Servers before the console stored the
 * plain `host:port`; both read back. The registration *time* is not in the
 * value on purpose: a value that changed every heartbeat would bump the
 * cluster's index, wake every long-poll on each refresh and take SQLite off
 * its one-statement refresh path. Instead the store says when each key
 * expires (`KvStoreShape.expiries`: memory and SQLite from their deadlines,
 * etcd from its leases, so it holds across restarts and HA instances), and
 * the last registration is `expiresAt - ttl`.
 */
const SEPARATOR = " ttl="

/** The stored value for an address registered with `ttlMillis`. */
export const encode = (address: string, ttlMillis: number): string => `${address}${SEPARATOR}${ttlMillis}`

/** The address of a stored value (new or plain). */
export const address = (value: string): string => {
  const at = value.indexOf(" ")
  return at < 0 ? value : value.slice(0, at)
}

/** The TTL a stored value was registered with, in ms; undefined for a plain (older) value. */
export const ttlOf = (value: string): number | undefined => {
  const at = value.indexOf(SEPARATOR)
  if (at < 0) return undefined
  const ttl = Number(value.slice(at + SEPARATOR.length))
  return Number.isSafeInteger(ttl) && ttl >= 0 ? ttl : undefined
}

/** One member as the console shows it; times in ms since the epoch. */
export interface Member {
  readonly address: string
  /** When it last registered, when the store knows its deadline and the value its TTL. */
  readonly registeredAt?: number
  /** When it expires unless it registers again, when the store can tell. */
  readonly expiresAt?: number
  readonly ttl?: number
}

export const member = (value: string, expiresAt: number | undefined): Member => {
  const ttl = ttlOf(value)
  return {
    address: address(value),
    ...(expiresAt === undefined ? {} : { expiresAt }),
    ...(ttl === undefined ? {} : { ttl }),
    ...(ttl === undefined || expiresAt === undefined ? {} : { registeredAt: expiresAt - ttl })
  }
}
