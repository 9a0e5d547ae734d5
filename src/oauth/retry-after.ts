/** Longest `retry-after` passed on (SPEC §3: at most 60 s). */
export const MAX_RETRY_AFTER_SECONDS = 60;

/**
 * A `retry-after` value (RFC 9110 §10.2.3: delay-seconds or an HTTP-date) as
 * whole seconds from `now`, between 1 and 60; `fallback` when it is absent or
 * neither form. The value comes from outside: it is parsed, never copied.
 */
export function retryAfterSeconds(value: string | undefined, now: number, fallback = 1): number {
  const raw = value?.trim();
  let seconds: number | undefined;
  if (raw !== undefined && /^\d{1,10}$/.test(raw)) seconds = Number(raw);
  else if (raw !== undefined && raw.length <= 64 && /^[A-Za-z]{3}, \d{2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/.test(raw)) {
    const at = Date.parse(raw);
    if (Number.isFinite(at)) seconds = Math.ceil((at - now) / 1000);
  }
  if (seconds === undefined) seconds = fallback;
  return Math.min(MAX_RETRY_AFTER_SECONDS, Math.max(1, seconds));
}
