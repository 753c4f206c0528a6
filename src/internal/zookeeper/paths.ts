/** ZooKeeper paths for store keys and prefixes, result codes, and stat fields. */

/** `a/b/c` → `/a/b/c`, or undefined when it is not a valid znode path. */
export const keyToPath = (key: string): string | undefined => {
  const segments = key.replace(/^\/+/, "").split("/")
  if (segments.some((s) => s === "" || s === "." || s === "..")) return undefined
  return "/" + segments.join("/")
}

/** `a/b/` → `{dir: "/a/b", name: ""}`; `a/b/x` → `{dir: "/a/b", name: "x"}`; `` → `{dir: "/", name: ""}`. */
export const prefixToDirectory = (
  prefix: string
): { readonly dir: string; readonly name: string } | undefined => {
  const trimmed = prefix.replace(/^\/+/, "")
  const slash = trimmed.lastIndexOf("/")
  const dirPart = slash < 0 ? "" : trimmed.slice(0, slash)
  const name = slash < 0 ? trimmed : trimmed.slice(slash + 1)
  if (dirPart === "") return { dir: "/", name }
  const dir = keyToPath(dirPart)
  return dir === undefined ? undefined : { dir, name }
}

export const child = (dir: string, name: string) => (dir === "/" ? `/${name}` : `${dir}/${name}`)
export const pathToKey = (path: string) => path.slice(1)
export const parentOf = (path: string) => path.slice(0, path.lastIndexOf("/")) || "/"

/** An 8-byte zxid as a number (exact up to 2^53, far beyond any real ZooKeeper). */
export const zxid = (buffer: Buffer | undefined) =>
  buffer && buffer.length === 8 ? Number(buffer.readBigUInt64BE(0)) : 0

/** The `ephemeralOwner` of a persistent znode. */
export const NO_OWNER = Buffer.alloc(8)

export const Code = {
  CONNECTION_LOSS: -4,
  OPERATION_TIMEOUT: -7,
  BAD_ARGUMENTS: -8,
  NO_NODE: -101,
  BAD_VERSION: -103,
  NO_CHILDREN_FOR_EPHEMERALS: -108,
  NODE_EXISTS: -110,
  NOT_EMPTY: -111,
  SESSION_EXPIRED: -112
} as const

/** Watcher event types. */
export const NODE_DELETED = 2
export const NODE_DATA_CHANGED = 3
