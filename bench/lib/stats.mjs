// Small numeric helpers for the report.

export function median(values) {
  const finite = values.filter((value) => Number.isFinite(value)).sort((a, b) => a - b);
  if (finite.length === 0) return NaN;
  const middle = finite.length >> 1;
  return finite.length % 2 ? finite[middle] : (finite[middle - 1] + finite[middle]) / 2;
}

export function mean(values) {
  return values.length ? values.reduce((sum, value) => sum + value, 0) / values.length : NaN;
}

export const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? a / b : NaN);

/** Fixed-precision number, or "n/a". */
export function num(value, digits = 2) {
  if (value === undefined || value === null || !Number.isFinite(value)) return 'n/a';
  return value.toFixed(digits);
}

/** Integer with thousands separators, or "n/a". */
export function int(value) {
  if (value === undefined || value === null || !Number.isFinite(value)) return 'n/a';
  return Math.round(value).toLocaleString('en-US');
}
