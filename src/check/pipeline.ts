import { AuthzError } from '../errors.js';
import type { ExchangeCache } from '../exchange/cache.js';
import { actorToken } from '../exchange/actor.js';
import type { TargetSelector } from '../exchange/targets.js';
import type { TokenExchanger } from '../exchange/token-exchange.js';
import { inboundToken, type InboundToken } from '../validation/inbound-token.js';
import type { Principal } from '../validation/principal.js';
import { requireScopes } from '../validation/scopes.js';
import type { CheckRequest } from './check-request.js';
import { bearerToken } from './credentials.js';
import { requestView } from './request.js';

/** Validates an inbound token into a principal (JWKS or introspection, routed by issuer). */
export interface TokenValidator {
  validate(token: InboundToken): Promise<Principal>;
}

export type Decision =
  | {
      readonly allowed: true;
      readonly exchangedToken: string;
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
}

/**
 * The Check path (SPEC §1), one phase per line: request view → bearer token →
 * principal → exchange target → its required scopes → actor → exchanged token.
 * Knows nothing of gRPC; every failure becomes a denial, an unexpected one as
 * `internal` (fail closed).
 */
export class CheckPipeline {
  constructor(private readonly options: PipelineOptions) {}

  async decide(request: CheckRequest): Promise<Decision> {
    let token: InboundToken | undefined;
    let principal: Principal | undefined;
    let exchanger: TokenExchanger | undefined;
    try {
      const view = requestView(request);
      if (!view) throw new AuthzError('not_http', 'only HTTP requests are authorized');
      token = inboundToken(bearerToken(view, this.options.maxTokenBytes));
      principal = await this.options.validator.validate(token);
      exchanger = this.options.targets.select(request);
      requireScopes(principal, exchanger.target.requiredScopes);
      const actor = actorToken(exchanger.target.actor, view, token.value, this.options.maxTokenBytes);
      const exchangedToken = await this.options.cache.get(token, principal, exchanger, actor);
      return { allowed: true, exchangedToken, principal, token, exchanger };
    } catch (error) {
      const denial = error instanceof AuthzError ? error : new AuthzError('internal', 'the check failed unexpectedly', { cause: error });
      return { allowed: false, error: denial, token, principal, exchanger };
    }
  }
}
