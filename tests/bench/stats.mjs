// Statistics shared by the benchmarks (verify.mjs, dpop-verify.mjs, dpop-proof.mjs): medians of paired
// per-round ratios with their spread; and their command line.

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

/** The benchmarks' command line: `--quick`, `--name value` texts, whole counts, one-of and list
 *  options; a bad value stops the run with what was expected. */
export function benchArgs(argv = process.argv.slice(2)) {
  const text = (name) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  return {
    quick: argv.includes("--quick"),
    text,
    count(name, d, min = 1) {
      const v = text(name);
      if (v === undefined) return d;
      const n = Number(v);
      if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be a whole number of at least ${min}, got ${v}`);
      return n;
    },
    oneOf(name, allowed) {
      const v = text(name);
      if (v !== undefined && !allowed.includes(v)) throw new Error(`--${name} must be ${allowed.join(" or ")}, got ${v}`);
      return v;
    },
    listOf(name, all) {
      const v = text(name);
      const list = v ? v.split(",") : all;
      for (const x of list) if (!all.includes(x)) throw new Error(`--${name}: unknown ${x}`);
      return list;
    },
  };
}
