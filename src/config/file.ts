import { basename } from 'node:path';
import { LineCounter, parseDocument, isMap, isNode } from 'yaml';
import { errorCode, type Problems } from './problems.js';

export type YamlPath = ReadonlyArray<string | number>;

/** A parsed `CONFIG_FILE`: plain values plus the line of any path, for error messages. */
export interface ConfigFile {
  readonly name: string;
  readonly root: Readonly<Record<string, unknown>>;
  /** "config.yaml:12: targets[1].exchange_audience" */
  where(path: YamlPath): string;
}

/** Reads and parses the YAML file; syntax errors become problem lines with their position. */
export function readConfigFile(path: string, readFile: (path: string) => string, problems: Problems): ConfigFile | undefined {
  let text: string;
  try {
    text = readFile(path);
  } catch (error) {
    problems.push(`CONFIG_FILE: cannot read ${path} (${errorCode(error)})`);
    return undefined;
  }
  const name = basename(path);
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    for (const error of doc.errors) problems.push(`${name}:${error.linePos?.[0]?.line ?? '?'}: ${error.message.split('\n')[0]}`);
    return undefined;
  }
  if (!isMap(doc.contents)) {
    problems.push(`${name}: the file must hold a mapping of settings`);
    return undefined;
  }
  return {
    name,
    root: doc.toJS(),
    where(path) {
      // The line of the path, or of the nearest enclosing node that exists (for a missing key: its entry).
      let line: number | undefined;
      for (let depth = path.length; depth >= 0 && line === undefined; depth--) {
        const node = doc.getIn(path.slice(0, depth), true);
        if (isNode(node) && node.range) line = lines.linePos(node.range[0]).line;
      }
      const dotted = path.map((part, i) => (typeof part === 'number' ? `[${part}]` : i === 0 ? part : `.${part}`)).join('');
      return `${name}:${line ?? '?'}: ${dotted}`;
    },
  };
}
