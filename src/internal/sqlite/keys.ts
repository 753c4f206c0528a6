/** Key and directory arithmetic for the SQLite store (keys are `/`-separated paths). */

export const directoryOf = (key: string): string => key.slice(0, key.lastIndexOf("/") + 1)

/** Every directory holding `key`, innermost first, ending with the root `""`. */
export const ancestors = (key: string, into: Set<string>): void => {
  for (let dir = directoryOf(key); ; dir = directoryOf(dir.slice(0, -1))) {
    into.add(dir)
    if (dir === "") break
  }
}

export const isDirectory = (prefix: string): boolean => prefix === "" || prefix.endsWith("/")

/**
 * The smallest string greater than every string that starts with `prefix`
 * (SQLite compares TEXT as UTF-8 bytes, which orders like code points), or
 * undefined when there is none.
 */
export const upperBound = (prefix: string): string | undefined => {
  const cps = Array.from(prefix)
  while (cps.length > 0) {
    const last = cps.pop()!.codePointAt(0)!
    let next = last + 1
    if (next >= 0xd800 && next <= 0xdfff) next = 0xe000
    if (next <= 0x10ffff) return cps.join("") + String.fromCodePoint(next)
  }
  return undefined
}
