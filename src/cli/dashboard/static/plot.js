// A time-series plot as plain SVG text: points {time, value?, phase}, an optional horizontal threshold.
// Generic on purpose: the analysis plots use it, and so can anything else with timed, judged values.

const esc = (text) => String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

/** Four significant digits, as the terminal view prints values. */
export const short = (value) => String(Number(Number(value).toPrecision(4)));

const clock = (ms) => new Date(ms).toISOString().slice(11, 19);

function symbol(phase, x, y) {
  if (phase === 'Failed') return `<path d="M${x - 4} ${y - 4}L${x + 4} ${y + 4}M${x - 4} ${y + 4}L${x + 4} ${y - 4}"/>`;
  if (phase === 'Inconclusive') return `<path d="M${x} ${y - 5}L${x + 5} ${y}L${x} ${y + 5}L${x - 5} ${y}Z"/>`;
  if (phase === 'Error') return `<path d="M${x} ${y - 5}L${x + 5} ${y + 4}L${x - 5} ${y + 4}Z"/>`;
  return `<circle cx="${x}" cy="${y}" r="4"/>`;
}

/** Whether `result <op> limit` holds; the failing side of a success threshold is where it does not. */
const holds = (op, value, limit) => (op === '<' ? value < limit : op === '<=' ? value <= limit : op === '>' ? value > limit : value >= limit);

/**
 * @param {Array<{time: string, value?: number, phase: string}>} series
 * @param {{threshold?: {op: string, value: number, condition: string, expression: string}, width?: number, height?: number, label?: string}} options
 * @returns {string} an <svg> element; every point is a <g class="point"> with data-phase, those without a value on the baseline.
 */
export function plotSvg(series, options = {}) {
  const width = options.width ?? 440;
  const height = options.height ?? 170;
  const m = { left: 52, right: 12, top: 12, bottom: 26 };
  const times = series.map((p) => Date.parse(p.time)).filter(Number.isFinite);
  const values = series.flatMap((p) => (typeof p.value === 'number' ? [p.value] : []));
  const threshold = options.threshold;
  const span = [...values, ...(threshold ? [threshold.value] : [])];
  let lo = span.length ? Math.min(...span) : 0;
  let hi = span.length ? Math.max(...span) : 1;
  const pad = hi > lo ? (hi - lo) * 0.12 : Math.abs(hi) * 0.1 || 1;
  lo -= pad;
  hi += pad;
  const t0 = times.length ? Math.min(...times) : 0;
  const t1 = times.length ? Math.max(...times) : 1;
  const x = (ms) => (t1 > t0 ? m.left + ((ms - t0) / (t1 - t0)) * (width - m.left - m.right) : (m.left + width - m.right) / 2);
  const y = (v) => m.top + ((hi - v) / (hi - lo)) * (height - m.top - m.bottom);
  const base = height - m.bottom;
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" class="plot" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${esc(options.label ?? 'plot')}">`];
  parts.push(`<rect class="frame" x="${m.left}" y="${m.top}" width="${width - m.left - m.right}" height="${base - m.top}"/>`);
  if (threshold) {
    const ty = y(threshold.value);
    // Shade the side where the condition says "failed": below a success floor, above a failure ceiling, and so on.
    const upperHolds = holds(threshold.op, hi, threshold.value);
    const shadeUpper = threshold.condition === 'success' ? !upperHolds : upperHolds;
    const [from, to] = shadeUpper ? [m.top, ty] : [ty, base];
    parts.push(`<rect class="failing" x="${m.left}" y="${from}" width="${width - m.left - m.right}" height="${Math.max(0, to - from)}"/>`);
    parts.push(`<line class="threshold" x1="${m.left}" x2="${width - m.right}" y1="${ty}" y2="${ty}"/>`);
    parts.push(`<text class="threshold-label" x="${width - m.right - 4}" y="${ty - 4}" text-anchor="end">${esc(`${threshold.condition}: ${threshold.expression}`)}</text>`);
  }
  for (const v of [hi - pad, (hi + lo) / 2, lo + pad]) {
    parts.push(`<text class="tick" x="${m.left - 6}" y="${y(v) + 4}" text-anchor="end">${esc(short(v))}</text>`);
  }
  if (times.length) {
    parts.push(`<text class="tick" x="${m.left}" y="${height - 8}">${clock(t0)}</text>`);
    if (t1 > t0) parts.push(`<text class="tick" x="${width - m.right}" y="${height - 8}" text-anchor="end">${clock(t1)}</text>`);
  }
  const valued = series.filter((p) => typeof p.value === 'number' && Number.isFinite(Date.parse(p.time)));
  if (valued.length > 1) parts.push(`<polyline class="line" points="${valued.map((p) => `${x(Date.parse(p.time))},${y(p.value)}`).join(' ')}"/>`);
  for (const p of series) {
    const px = x(Number.isFinite(Date.parse(p.time)) ? Date.parse(p.time) : t0);
    const py = typeof p.value === 'number' ? y(p.value) : base;
    const title = `${p.phase} ${typeof p.value === 'number' ? short(p.value) : 'no value'} at ${p.time}`;
    parts.push(`<g class="point ${esc(p.phase)}" data-phase="${esc(p.phase)}"><title>${esc(title)}</title>${symbol(p.phase, px, py)}</g>`);
  }
  parts.push('</svg>');
  return parts.join('');
}

/** Whether a side carries a distribution (the fixed-horizon judge) rather than counts (the sequential one). */
const spread = (side) => side && ['min', 'p25', 'median', 'p75', 'max'].every((key) => typeof side[key] === 'number');

/**
 * A judge's two sides next to each other: for samples, a box per role (quartiles, median, whiskers to min and max,
 * a tick at p90); for counts, each role's error rate as a bar with its errors out of requests.
 * @param {{class: string, baseline?: object, canary?: object}} judgement
 * @param {{width?: number, height?: number, label?: string}} options
 * @returns {string} an <svg> element with a <g class="side" data-role> per role.
 */
export function distributionsSvg(judgement, options = {}) {
  const width = options.width ?? 440;
  const height = options.height ?? 150;
  const m = { left: 52, right: 12, top: 12, bottom: 24 };
  const sides = [['baseline', judgement.baseline], ['canary', judgement.canary]];
  const boxes = sides.every(([, side]) => spread(side));
  const rate = (side) => (side && side.requests > 0 ? side.errors / side.requests : undefined);
  const values = boxes ? sides.flatMap(([, side]) => [side.min, side.max]) : sides.flatMap(([, side]) => (rate(side) === undefined ? [] : [0, rate(side)]));
  let lo = values.length ? Math.min(...values) : 0;
  let hi = values.length ? Math.max(...values) : 1;
  const pad = hi > lo ? (hi - lo) * 0.1 : Math.abs(hi) * 0.1 || 1;
  lo = boxes ? lo - pad : 0;
  hi += pad;
  const y = (v) => m.top + ((hi - v) / (hi - lo)) * (height - m.top - m.bottom);
  const lane = (width - m.left - m.right) / 2;
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" class="plot distributions" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${esc(options.label ?? 'baseline and canary')}">`];
  parts.push(`<rect class="frame" x="${m.left}" y="${m.top}" width="${width - m.left - m.right}" height="${height - m.bottom - m.top}"/>`);
  for (const v of [hi - (boxes ? pad : 0), lo + (boxes ? pad : 0)]) parts.push(`<text class="tick" x="${m.left - 6}" y="${y(v) + 4}" text-anchor="end">${esc(short(v))}</text>`);
  sides.forEach(([role, side], index) => {
    const cx = m.left + lane * index + lane / 2;
    const half = lane / 5;
    const inner = [];
    if (boxes) {
      inner.push(`<line class="whisker" x1="${cx}" x2="${cx}" y1="${y(side.max)}" y2="${y(side.min)}"/>`);
      inner.push(`<rect class="box" x="${cx - half}" y="${y(side.p75)}" width="${2 * half}" height="${Math.max(1, y(side.p25) - y(side.p75))}"/>`);
      inner.push(`<line class="median" x1="${cx - half}" x2="${cx + half}" y1="${y(side.median)}" y2="${y(side.median)}"/>`);
      if (typeof side.p90 === 'number') inner.push(`<line class="p90" x1="${cx - half / 2}" x2="${cx + half / 2}" y1="${y(side.p90)}" y2="${y(side.p90)}"/>`);
    } else if (rate(side) !== undefined) {
      inner.push(`<rect class="box" x="${cx - half}" y="${y(rate(side))}" width="${2 * half}" height="${Math.max(1, y(0) - y(rate(side)))}"/>`);
    }
    const caption = boxes ? `${role}: median ${short(side.median)}, n ${side.n ?? 0}` : rate(side) !== undefined ? `${role}: ${short(rate(side) * 100)}% (${side.errors}/${side.requests})` : `${role}: no data`;
    parts.push(`<g class="side ${role}" data-role="${role}"><title>${esc(caption)}</title>${inner.join('')}<text class="tick" x="${cx}" y="${height - 8}" text-anchor="middle">${esc(caption)}</text></g>`);
  });
  parts.push('</svg>');
  return parts.join('');
}
