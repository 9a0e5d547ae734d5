import { SERVICE_NAME, VERSION } from './build-info.js';
import { ALL_SETTINGS, type SettingSpec } from './config/settings.js';

/** What the command line asks for. */
export type Command =
  | { readonly kind: 'serve' }
  | { readonly kind: 'help' }
  | { readonly kind: 'version' }
  | { readonly kind: 'check-config' }
  /** an argument that is not understood: one line, exit 64 */
  | { readonly kind: 'usage'; readonly problem: string };

/** Exit statuses, as sysexits.h names them where it has a name. */
export const EXIT = { ok: 0, failure: 1, usage: 64, config: 78 } as const;

const FLAGS: Readonly<Record<string, Command>> = {
  '--help': { kind: 'help' },
  '-h': { kind: 'help' },
  '--version': { kind: 'version' },
  '--check-config': { kind: 'check-config' },
};

/** Parses `process.argv.slice(2)`: nothing (serve) or exactly one of the flags. */
export function parseCommandLine(args: readonly string[]): Command {
  if (args.length === 0) return { kind: 'serve' };
  const [first, ...rest] = args as [string, ...string[]];
  const command = Object.hasOwn(FLAGS, first) ? FLAGS[first] : undefined;
  // The argument is printed as JSON (quoted, control characters escaped): it is the caller's text.
  if (!command) return { kind: 'usage', problem: `unknown argument ${JSON.stringify(first)} (try --help)` };
  if (rest.length > 0) return { kind: 'usage', problem: `${first} takes no further arguments (got ${JSON.stringify(rest[0])})` };
  return command;
}

/** `--version`. */
export function versionText(): string {
  return `${SERVICE_NAME} ${VERSION}\n`;
}

const WIDTH = 80;

/** `--help`: usage, the settings grouped as in the README (from the settings tables), and the exit codes. */
export function helpText(): string {
  const lines = [
    `${SERVICE_NAME} ${VERSION}`,
    'Envoy ext_authz (gRPC v3) service: validates the inbound bearer token and',
    'exchanges it (RFC 8693) for a token meant for the upstream.',
    '',
    `Usage: ${SERVICE_NAME} [--help | --version | --check-config]`,
    '',
    '  (no argument)   serve, configured by the settings below',
    '  -h, --help      print this text and exit',
    '  --version       print the version and exit',
    '  --check-config  validate the configuration (environment, CONFIG_FILE, secret,',
    '                  key and certificate files) without touching the network; print',
    '                  "configuration OK" and exit 0, or the problems and exit 78',
    '',
    'Settings are environment variables; CONFIG_FILE (YAML) takes the same names in',
    'lower case. A secret NAME can also be read from the file named by NAME_FILE.',
  ];
  for (const [title, table] of ALL_SETTINGS) {
    lines.push('', `${plain(title)}:`);
    for (const spec of Object.values(table)) lines.push(...settingLines(spec));
  }
  lines.push(
    '',
    'Exit codes:',
    '  0   stopped on SIGTERM or SIGINT after finishing in-flight checks; --help,',
    '      --version, and --check-config with a valid configuration',
    '  1   could not listen, shutdown failed, or a worker process exited unasked',
    '  64  unknown command-line argument (EX_USAGE)',
    '  78  invalid configuration, one line per problem naming its variable',
  );
  return `${lines.join('\n')}\n`;
}

function settingLines(spec: SettingSpec<unknown>): string[] {
  const name = spec.secret ? `${spec.env} | ${spec.env}_FILE` : spec.env;
  const fallback = spec.required ? 'required' : spec.default !== undefined ? `default ${/^\S+$/.test(spec.default) ? spec.default : JSON.stringify(spec.default)}` : `default: ${plain(spec.derivedDefault ?? 'unset')}`;
  return [`  ${name}  (${fallback})`, ...wrap(plain(spec.doc), WIDTH - 6).map((line) => `      ${line}`)];
}

/** README markdown → terminal text: no code spans or emphasis. */
function plain(text: string): string {
  return text.replace(/[`*]/g, '');
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') lines.push(line);
  return lines;
}
