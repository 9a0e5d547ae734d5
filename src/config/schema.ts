/**
 * Checks `CONFIG_FILE` against the structure declared in `settings.ts`
 * (`FILE_STRUCTURE`, `MATCH_RULES`) and parses the keys of a list entry that
 * are not settings.
 */
import type { ConfigFile, YamlPath } from './file.js';
import type { TargetMatch } from './model.js';
import type { Problems } from './problems.js';
import { FILE_STRUCTURE, MATCH_RULES, type SettingsTable } from './settings.js';

export type ListName = (typeof FILE_STRUCTURE.top.lists)[number];

/** Names a key (or nested key) of one entry in a problem line. */
export type At = (...keys: string[]) => string;

const MATCH_KEYS = [...MATCH_RULES.keys()].join(', ');

export function isMapping(value: unknown): value is Readonly<Record<string, unknown>> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Keys a table's settings take in the file: the env name in lower case, and `…_file` for a secret. */
function keysOf(table: SettingsTable): string[] {
  return Object.values(table).flatMap((spec) => (spec.secret ? [spec.env.toLowerCase(), `${spec.env.toLowerCase()}_file`] : [spec.env.toLowerCase()]));
}

/** One line for every key of the file that the structure does not declare, and for every level that is not the shape it declares. */
export function checkFileKeys(file: ConfigFile, problems: Problems): void {
  const { top } = FILE_STRUCTURE;
  const topKeys = new Set([...top.tables.flatMap(keysOf), ...top.lists]);
  for (const key of top.never) topKeys.delete(key);
  const check = (mapping: unknown, allowed: ReadonlySet<string>, path: YamlPath) => {
    if (!isMapping(mapping)) {
      problems.push(`${file.where(path)}: must be a mapping`);
      return;
    }
    for (const key of Object.keys(mapping)) if (!allowed.has(key)) problems.push(`${file.where([...path, key])}: unknown setting`);
  };
  check(file.root, topKeys, []);
  for (const list of top.lists) {
    const items = file.root[list];
    if (items === undefined) continue;
    const allowed = new Set([...keysOf(FILE_STRUCTURE[list].table), ...Object.keys(FILE_STRUCTURE[list].keys)]);
    if (!Array.isArray(items) || items.length === 0) problems.push(`${file.where([list])}: must be a non-empty list`);
    else items.forEach((item, index) => check(item, allowed, [list, index]));
  }
}

/** `targets[].name`: it names the target in routes (`context_extensions`) and in `DEFAULT_TARGET`. */
export function targetName(value: unknown, at: At, problems: Problems): string | undefined {
  if (typeof value === 'string' && /^[A-Za-z0-9_.-]+$/.test(value)) return value;
  problems.push(`${at('name')}: each target needs a name of letters, digits, "_", "." or "-"`);
  return undefined;
}

/** `targets[].match`: each rule a string or a list of strings; `context` defaults to the target's name. */
export function targetMatch(value: unknown, name: string, at: At, problems: Problems): TargetMatch {
  const match: { -readonly [K in keyof TargetMatch]: TargetMatch[K] } = { context: [name], hosts: [], pathPrefixes: [], destinationPrincipals: [] };
  if (value === undefined) return match;
  if (!isMapping(value)) {
    problems.push(`${at('match')}: must be a mapping of ${MATCH_KEYS}`);
    return match;
  }
  for (const [key, rule] of Object.entries(value)) {
    const spec = MATCH_RULES.get(key);
    const list: unknown = typeof rule === 'string' ? [rule] : rule;
    if (!spec) problems.push(`${at('match', key)}: unknown rule (${MATCH_KEYS})`);
    else if (!isStringList(list)) problems.push(`${at('match', key)}: must be a string or a list of strings`);
    else if (spec.refuse && list.some(spec.refuse.test)) problems.push(`${at('match', key)}: ${spec.refuse.why}`);
    else match[spec.field] = spec.normalize ? list.map(spec.normalize) : list;
  }
  return match;
}

function isStringList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string' && item !== '');
}
