/**
 * ESLint rule `local/no-cycle`: no import cycle among the project's own modules. Type-only imports,
 * re-exports and literal dynamic `import()`s count: a type import still ties two modules' designs
 * together, and a lazy `import()` still makes the pair one unit to read. eslint-plugin-import(-x)'s
 * `no-cycle` skips type imports, hence this rule.
 *
 * The graph comes from `ts.preProcessFile` (syntax only, no type checking): relative specifiers,
 * `.js` resolved to the `.ts` source. Each import of the file being linted whose target leads back
 * to the file is reported, with the shortest such path.
 */
import { readFileSync, statSync } from "node:fs"
import { dirname, relative, resolve } from "node:path"
import ts from "typescript"

/** file -> its modification time and the project files it imports. */
const graph = new Map()

const isFile = (path) => {
  try {
    return statSync(path).isFile()
  } catch {
    return false
  }
}

const targetOf = (from, specifier) => {
  if (!specifier.startsWith(".")) return undefined
  const base = resolve(dirname(from), specifier)
  const candidates = [base.replace(/\.js$/, ".ts"), base.replace(/\.mjs$/, ".mts"), base, `${base}.ts`]
  return candidates.find(isFile)
}

const importsOf = (file) => {
  let mtimeMs
  try {
    mtimeMs = statSync(file).mtimeMs
  } catch {
    return []
  }
  const known = graph.get(file)
  if (known !== undefined && known.mtimeMs === mtimeMs) return known.imports
  const { importedFiles } = ts.preProcessFile(readFileSync(file, "utf8"), true, true)
  const imports = [...new Set(importedFiles.map((f) => targetOf(file, f.fileName)).filter(Boolean))]
  graph.set(file, { mtimeMs, imports })
  return imports
}

/** The shortest chain of modules from `start` to one that imports `file`, or undefined. */
const pathBack = (file, start) => {
  const seen = new Set([start])
  const queue = [[start]]
  while (queue.length > 0) {
    const path = queue.shift()
    for (const next of importsOf(path[path.length - 1])) {
      if (next === file) return path
      if (!seen.has(next)) {
        seen.add(next)
        queue.push([...path, next])
      }
    }
  }
  return undefined
}

export const noCycle = {
  meta: {
    type: "problem",
    docs: { description: "Forbid import cycles among the project's modules, type-only imports included" },
    schema: [],
    messages: { cycle: "Import cycle: {{route}} (type-only and dynamic imports count too)" }
  },
  create(context) {
    const file = context.physicalFilename
    const cwd = context.cwd
    const check = (node, source) => {
      if (source?.type !== "Literal" || typeof source.value !== "string") return
      const target = targetOf(file, source.value)
      if (target === undefined || target === file) return
      const path = pathBack(file, target)
      if (path === undefined) return
      const route = [file, ...path, file].map((p) => relative(cwd, p)).join(" -> ")
      context.report({ node, messageId: "cycle", data: { route } })
    }
    return {
      ImportDeclaration: (node) => check(node, node.source),
      ExportNamedDeclaration: (node) => check(node, node.source),
      ExportAllDeclaration: (node) => check(node, node.source),
      ImportExpression: (node) => check(node, node.source),
      TSImportType: (node) =>
        check(node, node.argument?.type === "Literal" ? node.argument : node.argument?.literal)
    }
  }
}
