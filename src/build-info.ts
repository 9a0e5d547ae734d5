import { readFileSync } from 'node:fs';

/** The name the service reports in logs, metrics and `--version`. */
export const SERVICE_NAME = 'token-exchange-authz';

/**
 * The package version, read once from package.json (one directory above both
 * src/ and dist/, and shipped in the image next to dist/).
 */
export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
