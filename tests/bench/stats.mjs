// Statistics shared by the benchmarks (verify.mjs, dpop-verify.mjs): medians of paired per-round ratios
// with their spread.

/** Quantile with linear interpolation (q = 0.5: the median, the mean of the middle two). */
export function quantile(xs, q) {
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  return s[lo] + (s[Math.min(lo + 1, s.length - 1)] - s[lo]) * (pos - lo);
}
export const finite = (xs) => xs.filter(Number.isFinite);
/** Paired ratios a_r / b_r over the rounds where both have a figure. */
export const paired = (a, b) => finite(a.map((x, r) => x / b[r]));
export const opsCell = (xs) => {
  const f = finite(xs);
  return f.length ? `${Math.round(quantile(f, 0.5))}` : "n/a";
};
export const ratioCell = (rs) => (rs.length ? `${quantile(rs, 0.5).toFixed(2)}x` : "n/a");
export const spreadCell = (rs) => {
  if (!rs.length) return "n/a";
  const f = (x) => x.toFixed(2);
  return `${f(quantile(rs, 0.25))}-${f(quantile(rs, 0.75))} [${f(Math.min(...rs))}-${f(Math.max(...rs))}]`;
};
