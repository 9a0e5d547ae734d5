import type { ConfigFile, YamlPath } from './file.js';
import { errorCode, type Problems } from './problems.js';
import type { SettingSpec } from './settings.js';

export type Environment = Readonly<Record<string, string | undefined>>;
export type ReadFile = (path: string) => string;

/** A raw value and where it came from ("GRPC_PORT", "config.yaml:3: grpc_port"). */
export interface RawValue {
  readonly value: string;
  readonly where: string;
}

/** Looks a setting up in one place; problems (unreadable file, both forms set) go to `problems`. */
export type Source = (spec: SettingSpec<unknown>, problems: Problems) => RawValue | undefined;

/** The process environment: `NAME`, or for a secret `NAME_FILE` (one trailing newline stripped); '' counts as unset. */
export function environmentSource(env: Environment, readFile: ReadFile): Source {
  return (spec, problems) => {
    const direct = env[spec.env] === '' ? undefined : env[spec.env];
    const filePath = spec.secret && env[`${spec.env}_FILE`] !== '' ? env[`${spec.env}_FILE`] : undefined;
    if (direct !== undefined && filePath !== undefined) {
      problems.push(`${spec.env}: set ${spec.env} or ${spec.env}_FILE, not both`);
      return undefined;
    }
    if (filePath !== undefined) return readSecretFile(filePath, `${spec.env}_FILE`, readFile, problems);
    return direct === undefined ? undefined : { value: direct, where: spec.env };
  };
}

/** One mapping of the config file (the top level, or one entry of `issuers` / `targets`); keys are env names in lower case. */
export function fileSource(file: ConfigFile, mapping: Readonly<Record<string, unknown>>, path: YamlPath, readFile: ReadFile): Source {
  return (spec, problems) => {
    const key = spec.env.toLowerCase();
    const fileKey = `${key}_file`;
    const hasValue = mapping[key] !== undefined && mapping[key] !== null;
    const secretFile = spec.secret === true ? mapping[fileKey] : undefined;
    const hasFile = typeof secretFile === 'string';
    if (hasValue && hasFile) {
      problems.push(`${file.where([...path, key])}: set ${key} or ${fileKey}, not both`);
      return undefined;
    }
    if (hasFile) return readSecretFile(secretFile, file.where([...path, fileKey]), readFile, problems);
    if (!hasValue) return undefined;
    const where = file.where([...path, key]);
    const value = scalarText(mapping[key]);
    if (value === undefined) {
      problems.push(`${where}: must be a string, number, boolean or list of strings`);
      return undefined;
    }
    return { value, where };
  };
}

/** YAML scalars and lists become the text an environment variable would hold (lists space-separated, mappings as a query string). */
function scalarText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value) && value.every((item) => typeof item === 'string' || typeof item === 'number')) return value.join(' ');
  if (value && typeof value === 'object' && Object.values(value).every((item) => typeof item === 'string' || typeof item === 'number')) {
    return new URLSearchParams(Object.entries(value).map(([name, item]) => [name, String(item)])).toString();
  }
  return undefined;
}

function readSecretFile(path: string, where: string, readFile: ReadFile, problems: Problems): RawValue | undefined {
  try {
    const content = readFile(path).replace(/\r?\n$/, '');
    if (content !== '') return { value: content, where };
    problems.push(`${where}: ${path} is empty`);
  } catch (error) {
    problems.push(`${where}: cannot read ${path} (${errorCode(error)})`);
  }
  return undefined;
}

/** The first source that has the setting wins. */
export function firstOf(...sources: Source[]): Source {
  return (spec, problems) => {
    for (const source of sources) {
      const found = source(spec, problems);
      if (found) return found;
    }
    return undefined;
  };
}
