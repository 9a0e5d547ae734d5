import type { TargetConfig } from '../config/model.js';

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
/** RFC 7523 §2.1, used by Entra ID On-Behalf-Of */
export const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

type Params = Array<readonly [string, string]>;

/**
 * The request parameters that do not change from one exchange to the next,
 * and the names under which the per-request tokens go.
 * RFC 8693 §2.1 for every profile but Entra ID On-Behalf-Of, which is the
 * jwt-bearer grant with `requested_token_use=on_behalf_of` and `assertion`.
 */
export interface RequestShape {
  readonly grantType: string;
  /** every fixed parameter, `grant_type` first, in the order sent */
  readonly fixed: ReadonlyArray<readonly [string, string]>;
  readonly subjectParam: 'subject_token' | 'assertion';
  readonly actorTypeParam: string | undefined;
}

export function requestShape(target: TargetConfig): RequestShape {
  const params: Params = [];
  const grantType = target.profile === 'entra_obo' ? JWT_BEARER_GRANT : TOKEN_EXCHANGE_GRANT;
  if (target.profile === 'entra_obo') {
    params.push(['grant_type', grantType], ['requested_token_use', 'on_behalf_of'], ['scope', target.scope!]);
  } else {
    params.push(['grant_type', grantType], ['subject_token_type', target.subjectTokenType]);
    if (target.requestedTokenType !== undefined) params.push(['requested_token_type', target.requestedTokenType]);
    // RFC 8693 §2.1: audience and resource may each be given several times.
    for (const audience of target.audience) params.push(['audience', audience]);
    for (const resource of target.resource) params.push(['resource', resource]);
    if (target.scope !== undefined) params.push(['scope', target.scope]);
  }
  params.push(...target.extraParams);
  return {
    grantType,
    fixed: params,
    subjectParam: target.profile === 'entra_obo' ? 'assertion' : 'subject_token',
    actorTypeParam: target.actor.source === 'none' ? undefined : target.actor.tokenType,
  };
}

/**
 * The grant's parameters for one exchange: fixed part, subject and (when
 * present) actor token. oauth4webapi adds the client's credentials and keeps
 * `grant_type` where it is.
 */
export function requestParameters(shape: RequestShape, subjectToken: string, actor: string | undefined): URLSearchParams {
  const params = new URLSearchParams();
  for (const [name, value] of shape.fixed) params.append(name, value);
  params.append(shape.subjectParam, subjectToken);
  // RFC 8693 §2.1: actor_token_type is sent if and only if actor_token is.
  if (actor !== undefined && shape.actorTypeParam !== undefined) {
    params.append('actor_token', actor);
    params.append('actor_token_type', shape.actorTypeParam);
  }
  return params;
}
