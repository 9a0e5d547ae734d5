import { AuthzError } from '../errors.js';
import type { ExchangeCache } from '../exchange/cache.js';
import type { TokenExchanger } from '../exchange/token-exchange.js';
import { inboundToken, type InboundToken } from '../validation/inbound-token.js';
import type { Principal } from '../validation/principal.js';
import { requireScopes } from '../validation/scopes.js';
import type { CheckRequest } from './check-request.js';
import { bearerToken } from './credentials.js';
import { requestView } from './request.js';

/** Validates an inbound token into a principal (JWKS today; introspection later). */
export interface TokenValidator {
  validate(token: InboundToken): Promise<Principal>;
}

export type Decision =
  | { readonly allowed: true; readonly exchangedToken: string; readonly principal: Principal; readonly token: InboundToken }
  | { readonly allowed: false; readonly error: AuthzError; readonly token?: InboundToken; readonly principal?: Principal };

export interface PipelineOptions {
  readonly maxTokenBytes: number;
  readonly requiredScopes: readonly string[];
  readonly validator: TokenValidator;
  readonly exchanger: TokenExchanger;
  readonly cache: ExchangeCache;
}

/**
 * The Check path (SPEC §1), one phase per line: request view → bearer token →
 * principal → required scopes → exchanged token. Knows nothing of gRPC; every
 * failure becomes a denial, an unexpected one as `internal` (fail closed).
 */
export class CheckPipeline {
  constructor(private readonly options: PipelineOptions) {}

  async decide(request: CheckRequest): Promise<Decision> {
    let token: InboundToken | undefined;
    let principal: Principal | undefined;
    try {
      const view = requestView(request);
      if (!view) throw new AuthzError('not_http', 'only HTTP requests are authorized');
      token = inboundToken(bearerToken(view, this.options.maxTokenBytes));
      principal = await this.options.validator.validate(token);
      requireScopes(principal, this.options.requiredScopes);
      const exchangedToken = await this.options.cache.get(token, principal, this.options.exchanger);
      return { allowed: true, exchangedToken, principal, token };
    } catch (error) {
      const denial = error instanceof AuthzError ? error : new AuthzError('internal', 'the check failed unexpectedly', { cause: error });
      return { allowed: false, error: denial, token, principal };
    }
  }
}
