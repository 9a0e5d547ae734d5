import type { Config, TargetConfig } from '../config/model.js';
import { AuthzError } from '../errors.js';
import type { CheckRequest } from '../request/check-request.js';

/**
 * Picks the exchange target of a request, in order: Envoy's per-route
 * `context_extensions` (a route that names an unknown target is denied, never
 * sent elsewhere), the request's host, its longest matching path prefix, the
 * destination principal (Istio, which cannot set context_extensions), then the
 * default target; no match and no default → 403.
 */
export class TargetSelector<T extends { readonly target: TargetConfig }> {
  readonly #byContext = new Map<string, T>();
  readonly #byHost = new Map<string, T>();
  readonly #byPrefix: Array<readonly [string, T]> = [];
  readonly #byPrincipal = new Map<string, T>();
  readonly #default: T | undefined;

  constructor(
    targets: readonly T[],
    private readonly config: Pick<Config, 'targetContextKey' | 'defaultTarget'>,
  ) {
    for (const entry of targets) {
      const { match } = entry.target;
      for (const value of match.context) this.#byContext.set(value, entry);
      for (const host of match.hosts) this.#byHost.set(host, entry);
      for (const prefix of match.pathPrefixes) this.#byPrefix.push([prefix, entry]);
      for (const principal of match.destinationPrincipals) this.#byPrincipal.set(principal, entry);
    }
    this.#byPrefix.sort(([a], [b]) => b.length - a.length);
    this.#default = targets.find((entry) => entry.target.name === config.defaultTarget);
  }

  select(request: CheckRequest): T {
    const attributes = request.attributes;
    const named = attributes?.context_extensions?.[this.config.targetContextKey];
    if (named !== undefined) {
      const entry = this.#byContext.get(named);
      if (!entry) throw new AuthzError('no_target', `the route names target "${named}", which is not configured`);
      return entry;
    }
    const http = attributes?.request?.http;
    const host = http?.host?.toLowerCase().replace(/:\d+$/, '');
    const byHost = host === undefined ? undefined : this.#byHost.get(host);
    if (byHost) return byHost;
    const path = http?.path;
    if (path !== undefined && this.#byPrefix.length > 0) {
      const bare = path.split('?')[0]!;
      for (const [prefix, entry] of this.#byPrefix) if (bare.startsWith(prefix)) return entry;
    }
    const principal = attributes?.destination?.principal;
    const byPrincipal = principal ? this.#byPrincipal.get(principal) : undefined;
    if (byPrincipal) return byPrincipal;
    if (this.#default) return this.#default;
    throw new AuthzError('no_target', 'no exchange target matches this request');
  }
}
