import { AuthzError } from '../errors.js';
import type { ExchangeCache, ExchangedToken } from '../exchange/cache.js';
import { actorToken } from '../exchange/actor.js';
import type { TargetSelector } from '../exchange/targets.js';
import type { TokenExchanger } from '../exchange/token-exchange.js';
import type { TraceParent } from '../ops/tracing.js';
import { inboundToken, type InboundToken } from '../validation/inbound-token.js';
import type { Principal } from '../validation/principal.js';
import { requireScopes } from '../validation/scopes.js';
import type { CheckRequest } from '../request/check-request.js';
import { unexpected } from './failures.js';
import { bearerToken, refuseBodyToken, refuseQueryToken } from './credentials.js';
import { requestView, type RequestView } from '../request/view.js';

/** Validates an inbound token into a principal (JWKS or introspection, routed by issuer); synchronous when cached. */
export interface TokenValidator {
  validate(token: InboundToken, parent?: TraceParent): Principal | Promise<Principal>;
}

export type Decision =
  | {
      readonly allowed: true;
      readonly exchanged: ExchangedToken;
      /** the exchanged token came from the cache */
      readonly cached: boolean;
      readonly principal: Principal;
      readonly token: InboundToken;
      readonly exchanger: TokenExchanger;
    }
  | { readonly allowed: false; readonly error: AuthzError; readonly token?: InboundToken; readonly principal?: Principal; readonly exchanger?: TokenExchanger };

export interface PipelineOptions {
  readonly maxTokenBytes: number;
  readonly validator: TokenValidator;
  readonly targets: TargetSelector<TokenExchanger>;
  readonly cache: ExchangeCache;
  /** RFC 9728 metadata paths a Check may be answered for directly (SPEC §4a) */
  readonly metadataPaths: ReadonlySet<string>;
}

const RESOURCE_METADATA = new AuthzError('resource_metadata', 'protected resource metadata');

/**
 * The Check path (SPEC §1), one phase per step: request view → bearer token →
 * principal → exchange target → its required scopes → actor → exchanged token.
 * Knows nothing of gRPC; every failure becomes a denial, an unexpected one as
 * `internal` (fail closed). When every phase is answered from a cache the
 * decision is returned synchronously: no promise on the hot path.
 */
export class CheckPipeline {
  constructor(private readonly options: PipelineOptions) {}

  /** `parent`: when tracing is on, the check's span, under which the calls it makes are traced. */
  decide(request: CheckRequest, parent?: TraceParent): Decision | Promise<Decision> {
    let token: InboundToken | undefined;
    try {
      const view = requestView(request);
      if (!view) throw new AuthzError('not_http', 'only HTTP requests are authorized');
      if (this.#isMetadataRequest(request)) return { allowed: false, error: RESOURCE_METADATA };
      token = inboundToken(bearerToken(view, this.options.maxTokenBytes));
      const http = request.attributes!.request!.http!;
      refuseQueryToken(http.path);
      if (http.body !== undefined || http.raw_body !== undefined) refuseBodyToken(view, http.body ?? Buffer.from(http.raw_body!).toString('latin1'));
      const principal = this.options.validator.validate(token, parent);
      const known = token;
      if (principal instanceof Promise) return principal.then((resolved) => this.#exchange(request, view, known, resolved, parent), (error) => deny(error, known));
      return this.#exchange(request, view, token, principal, parent);
    } catch (error) {
      return deny(error, token);
    }
  }

  #exchange(request: CheckRequest, view: RequestView, token: InboundToken, principal: Principal, parent: TraceParent | undefined): Decision | Promise<Decision> {
    let exchanger: TokenExchanger | undefined;
    try {
      exchanger = this.options.targets.select(request);
      requireScopes(principal, exchanger.target.requiredScopes);
      const actor = actorToken(exchanger.target.actor, view, token.value, this.options.maxTokenBytes);
      const exchanged = this.options.cache.get(token, principal, exchanger, actor, parent);
      const chosen = exchanger;
      if (!(exchanged instanceof Promise)) return { allowed: true, exchanged, cached: true, principal, token, exchanger };
      return exchanged.then(
        (fresh) => ({ allowed: true, exchanged: fresh, cached: false, principal, token, exchanger: chosen }),
        (error) => deny(error, token, principal, chosen),
      );
    } catch (error) {
      return deny(error, token, principal, exchanger);
    }
  }

  /** A GET (or HEAD) of exactly a metadata path, token or not: the document is public (RFC 9728 §3). */
  #isMetadataRequest(request: CheckRequest): boolean {
    const http = request.attributes?.request?.http;
    if (this.options.metadataPaths.size === 0 || (http?.method !== 'GET' && http?.method !== 'HEAD')) return false;
    const path = http.path;
    if (path === undefined) return false;
    const query = path.indexOf('?');
    return this.options.metadataPaths.has(query === -1 ? path : path.slice(0, query));
  }
}

function deny(error: unknown, token?: InboundToken, principal?: Principal, exchanger?: TokenExchanger): Decision {
  const denial = error instanceof AuthzError ? error : unexpected(error);
  return { allowed: false, error: denial, token, principal, exchanger };
}
