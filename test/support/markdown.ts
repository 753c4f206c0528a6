/** Fenced code blocks of a Markdown file, for the tests that run or compile what the manual shows. */
import { readFileSync } from "node:fs"

export interface Fenced {
  /** The info string after the opening fence: `sh`, `ts`, `json`, … (empty when none). */
  readonly lang: string
  /** 1-based line number of the opening fence. */
  readonly line: number
  readonly body: string
}

export const fencedBlocks = (file: string): ReadonlyArray<Fenced> => {
  const lines = readFileSync(file, "utf8").split("\n")
  const blocks: Array<Fenced> = []
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*$/.exec(lines[i]!)
    if (open === null) continue
    const start = i
    const body: Array<string> = []
    for (i++; i < lines.length && !lines[i]!.startsWith("```"); i++) body.push(lines[i]!)
    blocks.push({ lang: open[1]!, line: start + 1, body: body.join("\n") })
  }
  return blocks
}
