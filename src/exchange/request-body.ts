import type { TargetConfig } from '../config/model.js';
import { formEncode } from '../oauth/client-auth.js';

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
/** RFC 7523 §2.1, used by Entra ID On-Behalf-Of */
export const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

type Params = Array<readonly [string, string]>;

/**
 * The request parameters that do not change from one exchange to the next,
 * encoded once, and the names under which the per-request tokens go.
 * RFC 8693 §2.1 for every profile but Entra ID On-Behalf-Of, which is the
 * jwt-bearer grant with `requested_token_use=on_behalf_of` and `assertion`.
 */
export interface RequestShape {
  readonly fixed: string;
  readonly subjectParam: 'subject_token' | 'assertion';
  readonly actorTypeParam: string | undefined;
}

export function requestShape(target: TargetConfig): RequestShape {
  const params: Params = [];
  if (target.profile === 'entra_obo') {
    params.push(['grant_type', JWT_BEARER_GRANT], ['requested_token_use', 'on_behalf_of'], ['scope', target.scope!]);
  } else {
    params.push(['grant_type', TOKEN_EXCHANGE_GRANT], ['subject_token_type', target.subjectTokenType]);
    if (target.requestedTokenType !== undefined) params.push(['requested_token_type', target.requestedTokenType]);
    // RFC 8693 §2.1: audience and resource may each be given several times.
    for (const audience of target.audience) params.push(['audience', audience]);
    for (const resource of target.resource) params.push(['resource', resource]);
    if (target.scope !== undefined) params.push(['scope', target.scope]);
  }
  params.push(...target.extraParams);
  return {
    fixed: encode(params),
    subjectParam: target.profile === 'entra_obo' ? 'assertion' : 'subject_token',
    actorTypeParam: target.actor.source === 'none' ? undefined : target.actor.tokenType,
  };
}

/** The whole body for one exchange: fixed part, client credentials, subject and (when present) actor token. */
export function requestBody(shape: RequestShape, clientParams: ReadonlyArray<readonly [string, string]>, subjectToken: string, actor: string | undefined): string {
  let body = `${shape.fixed}&${shape.subjectParam}=${formEncode(subjectToken)}`;
  // RFC 8693 §2.1: actor_token_type is sent if and only if actor_token is.
  if (actor !== undefined && shape.actorTypeParam !== undefined) body += `&actor_token=${formEncode(actor)}&actor_token_type=${formEncode(shape.actorTypeParam)}`;
  if (clientParams.length > 0) body += `&${encode(clientParams)}`;
  return body;
}

function encode(params: ReadonlyArray<readonly [string, string]>): string {
  return params.map(([name, value]) => `${name}=${formEncode(value)}`).join('&');
}
