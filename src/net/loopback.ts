/**
 * A loopback host name (SPEC §2: plain http:// is allowed only to these unless
 * ALLOW_INSECURE_HTTP). Below both config/ and oauth/, which both ask.
 */
export function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127(\.\d{1,3}){3}$/.test(hostname);
}
