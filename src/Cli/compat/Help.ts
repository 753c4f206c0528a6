/**
 * `swarm --help` and `swarm <command> --help`, rendered like a man page from
 * the commands' own definitions (see HelpModel.ts): one synopsis line per
 * command, each option once with its value, default, env var and whether it
 * is required or repeatable, lines of at most `WIDTH` columns. The global
 * options, environment and exit codes appear on the root help only.
 */
import type { ArgDoc, CommandDoc, OptionDoc } from "./HelpModel.js"

export const WIDTH = 100
const INDENT = "  "
const BODY = "      "

/** Wraps `text` into lines of at most `width` columns, each starting with `indent`. */
export const wrap = (text: string, indent: string, width = WIDTH): Array<string> => {
  const lines: Array<string> = []
  let line = ""
  for (const word of text.split(/\s+/).filter((w) => w !== "")) {
    if (line !== "" && indent.length + line.length + 1 + word.length > width) {
      lines.push(indent + line)
      line = word
    } else line = line === "" ? word : `${line} ${word}`
  }
  if (line !== "") lines.push(indent + line)
  return lines
}

const sentence = (text: string): string => (text === "" || /[.!?:]$/.test(text) ? text : `${text}.`)

/** `--advertise, --addr host:port`. */
export const optionTerm = (option: OptionDoc): string =>
  option.names.join(", ") + (option.value === undefined ? "" : ` ${option.value}`)

/** Required, default, repeatable and env, as the last sentences of an option's description. */
const facts = (item: {
  readonly required: boolean
  readonly default: string | undefined
  readonly env: string | undefined
  readonly repeatable: boolean
}): string =>
  [
    item.required
      ? item.env === undefined
        ? "Required."
        : `Required unless ${item.env} is set.`
      : undefined,
    item.default === undefined ? undefined : `Default: ${item.default}.`,
    item.repeatable ? "Repeatable." : undefined,
    item.env === undefined || item.required ? undefined : `Env: ${item.env}.`
  ]
    .filter((f) => f !== undefined)
    .join(" ")

const entry = (term: string, text: string): Array<string> => [INDENT + term, ...wrap(text, BODY)]

const section = (title: string, body: ReadonlyArray<string>): Array<string> =>
  body.length === 0 ? [] : [title, ...body, ""]

const argTerm = (arg: ArgDoc): string => (arg.repeatable ? `${arg.name}...` : arg.name)

/** `swarm join --advertise host:port [options] <discovery>`: required options, then the rest. */
export const synopsis = (program: string, command: CommandDoc): string => {
  const required = command.options
    .filter((o) => o.required)
    .map((o) => o.names[0]! + (o.value === undefined ? "" : ` ${o.value}`))
  const optional = command.options.some((o) => !o.required) ? ["[options]"] : []
  const args = command.args.map((a) => (a.required ? argTerm(a) : `[${argTerm(a)}]`))
  return [program, command.name, ...required, ...optional, ...args].join(" ")
}

/** One command's help: what it does, its synopsis, its arguments and options. */
export const renderCommand = (program: string, command: CommandDoc): string => {
  const lines = [
    ...wrap(`${program} ${command.name}: ${command.description}`, ""),
    "",
    ...section("USAGE", [INDENT + synopsis(program, command)]),
    ...section(
      "ARGUMENTS",
      command.args.flatMap((a) => entry(argTerm(a), `${sentence(a.description)} ${facts(a)}`))
    ),
    ...section(
      "OPTIONS",
      command.options.flatMap((o) => entry(optionTerm(o), `${sentence(o.description)} ${facts(o)}`))
    ),
    `Run '${program} --help' for the global options, environment and exit codes.`
  ]
  return lines.join("\n")
}

export interface RootDoc {
  readonly program: string
  readonly version: string
  readonly description: string
  readonly commands: ReadonlyArray<CommandDoc>
  /** Options every command takes (@effect/cli's built-ins), as [term, description]. */
  readonly globalOptions: ReadonlyArray<readonly [string, string]>
  /** Env vars that no option's definition names (SWARM_LOG_LEVEL, NO_COLOR), or more about one that does. */
  readonly environment: ReadonlyArray<readonly [string, string]>
  readonly exitCodes: ReadonlyArray<readonly [string, string]>
}

/** Every env var a command's options or arguments fall back to, with what it stands for (and `more` about it). */
const envFromDefinitions = (
  commands: ReadonlyArray<CommandDoc>,
  more: ReadonlyMap<string, string>
): Array<readonly [string, string]> => {
  const uses = new Map<string, Array<string>>()
  for (const command of commands) {
    for (const item of [...command.args, ...command.options]) {
      if (item.env === undefined) continue
      const what = "names" in item ? item.names[0]! : item.name
      const list = uses.get(item.env) ?? []
      const use = `${command.name} ${what}`
      if (!list.includes(use)) list.push(use)
      uses.set(item.env, list)
    }
  }
  return [...uses].map(
    ([env, list]) =>
      [
        env,
        [`The value of ${list.join(", ")} when not given.`, more.get(env)].filter(Boolean).join(" ")
      ] as const
  )
}

const table = (rows: ReadonlyArray<readonly [string, string]>): Array<string> => {
  const column = Math.max(...rows.map(([term]) => term.length)) + 2
  if (INDENT.length + column > 24) return rows.flatMap(([term, text]) => entry(term, text))
  return rows.flatMap(([term, text]) => {
    const [first = "", ...rest] = wrap(text, " ".repeat(INDENT.length + column))
    return [INDENT + term.padEnd(column) + first.trimStart(), ...rest]
  })
}

const environment = (root: RootDoc) => {
  const fromDefinitions = envFromDefinitions(root.commands, new Map(root.environment))
  const named = new Set(fromDefinitions.map(([env]) => env))
  return [...fromDefinitions, ...root.environment.filter(([env]) => !named.has(env))]
}

/** The root help: synopses, commands, and the footer that only it carries. */
export const renderRoot = (root: RootDoc): string => {
  const lines = [
    ...wrap(`${root.program} ${root.version}: ${root.description}`, ""),
    "",
    ...section("USAGE", [
      ...root.commands.map((c) => INDENT + synopsis(root.program, c)),
      `${INDENT}${root.program} --help | --version`
    ]),
    ...section("COMMANDS", [
      ...table(root.commands.map((c) => [c.name, c.description] as const)),
      `${INDENT}Run '${root.program} COMMAND --help' for a command's arguments and options.`
    ]),
    ...section(
      "GLOBAL OPTIONS",
      root.globalOptions.flatMap(([term, text]) => entry(term, text))
    ),
    ...section("ENVIRONMENT", table(environment(root))),
    ...section("EXIT CODES", table(root.exitCodes))
  ]
  return lines.join("\n").trimEnd()
}
