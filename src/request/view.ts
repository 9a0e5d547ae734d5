import type { CheckRequest, HttpRequestAttributes } from './check-request.js';

/**
 * One read-only view of the request's headers, whichever way Envoy sent them
 * (SPEC §3): the `headers` map (lower-case names, repeated values joined by
 * ",") or, with `encode_raw_headers`, `header_map` (values in `raw_value`).
 */
export interface RequestView {
  /** Every value of a header, matched case-insensitively; one entry per header line Envoy reported. */
  headerValues(name: string): string[];
}

/** `undefined` when the request has no HTTP attributes (a network-level check). */
export function requestView(request: CheckRequest): RequestView | undefined {
  const http = request.attributes?.request?.http;
  if (!http) return undefined;
  const entries = http.header_map?.headers;
  return entries && entries.length > 0 ? headerMapView(entries) : headersView(http);
}

type RawHeader = NonNullable<NonNullable<HttpRequestAttributes['header_map']>['headers']>[number];

function headerMapView(entries: RawHeader[]): RequestView {
  return {
    headerValues(name) {
      const values: string[] = [];
      for (const entry of entries) {
        if (entry.key?.toLowerCase() !== name) continue;
        // raw_value carries the bytes as received; latin1 maps each byte to one char, so nothing is lost or throws.
        const raw = entry.raw_value;
        values.push(raw && raw.length > 0 ? Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('latin1') : (entry.value ?? ''));
      }
      return values;
    },
  };
}

function headersView(http: HttpRequestAttributes): RequestView {
  const headers = http.headers ?? {};
  return {
    headerValues(name) {
      const direct = headers[name];
      if (direct !== undefined) return [direct];
      // Envoy sends lower-case names; anything else is matched case-insensitively all the same.
      const values: string[] = [];
      for (const key in headers) if (key.toLowerCase() === name) values.push(headers[key]!);
      return values;
    },
  };
}
