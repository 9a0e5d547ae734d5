// Client of bench/as-server.mjs's control API.

async function call(base, method, path, body) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(300_000),
  });
  const json = await response.json();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
  return json;
}

export function asControl(base) {
  return {
    /** { exchanges, fastExchanges, exchangeDelayMs } */
    state: () => call(base, 'GET', '/state'),
    setDelay: (ms) => call(base, 'POST', `/delay?ms=${ms}`),
    /** The token endpoint's own handling times (ms, measured in its process) since the last call. */
    tokenTimes: async () => (await call(base, 'POST', '/token-times')).times,
    /** Mints `count` tokens with subjects `${prefix}-<i>` into `file`, one per line. */
    mint: (count, prefix, file) => call(base, 'POST', '/mint', { count, prefix, file }),
    clientCredentialsToken: async () => (await call(base, 'POST', '/client-credentials')).token,
    fastTokenEndpoint: `${base}/fast/token`,
    fastIntrospectionEndpoint: `${base}/fast/introspect`,
  };
}
