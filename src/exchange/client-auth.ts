import type { ExchangeSettings } from '../config/load.js';

/** What client authentication adds to a token request: headers and/or body parameters. */
export interface ClientAuthentication {
  readonly headers: Readonly<Record<string, string>>;
  readonly bodyParams: ReadonlyArray<readonly [string, string]>;
}

/** application/x-www-form-urlencoded encoding of one value (RFC 6749 Appendix B). */
export function formEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2);
}

/**
 * Builds the client authentication once, at start-up.
 * - `client_secret_basic`, RFC 6749 §2.3.1: id and secret are form-encoded
 *   *before* Base64, so a secret with `:`, `%` or non-ASCII survives.
 * - `client_secret_post`, RFC 6749 §2.3.1: `client_id` and `client_secret` in the body.
 */
export function clientAuthentication(settings: ExchangeSettings): ClientAuthentication {
  switch (settings.authMethod) {
    case 'client_secret_basic': {
      const credentials = `${formEncode(settings.clientId)}:${formEncode(settings.clientSecret)}`;
      return { headers: { authorization: `Basic ${Buffer.from(credentials).toString('base64')}` }, bodyParams: [] };
    }
    case 'client_secret_post':
      return {
        headers: {},
        bodyParams: [
          ['client_id', settings.clientId],
          ['client_secret', settings.clientSecret],
        ],
      };
    default:
      throw new TypeError(`client authentication ${settings.authMethod} is not implemented`);
  }
}
