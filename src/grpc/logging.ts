import { format } from 'node:util';
import { logVerbosity, setLogger, setLogVerbosity } from '@grpc/grpc-js';
import type { Logger } from '../log.js';

/**
 * Sends grpc-js's own messages (a port already taken, a failed bind) through
 * the JSON logger instead of its plain `E …` lines on stderr. grpc-js's DEBUG
 * verbosity is never enabled: its tracers can print call metadata, which
 * carries the inbound token.
 */
export function routeGrpcLogs(log: Logger): void {
  const line = (level: 'error' | 'info' | 'debug') => (...args: unknown[]) => log[level]('grpc-js', { detail: format(...args) });
  setLogger({ error: line('error'), info: line('info'), debug: line('debug') });
  setLogVerbosity(log.enabled('info') ? logVerbosity.INFO : logVerbosity.ERROR);
}
