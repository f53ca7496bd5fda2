import { describe, expect, it } from 'vitest';
import { distributionsSvg, plotSvg, short } from '../../../../src/cli/dashboard/static/plot.js';

const at = (second: number): string => new Date(Date.UTC(2026, 10, 24, 10, 0, second)).toISOString();

/** The y of each point's symbol and of the threshold line, from the SVG text (y grows downwards). */
function geometry(svg: string): { points: Array<{ phase: string; y: number }>; lineY?: number; failing?: { y: number; height: number } } {
  const points = [...svg.matchAll(/<g class="point [^"]*" data-phase="([^"]+)"><title>[^<]*<\/title>(?:<circle cx="[-\d.]+" cy="([-\d.]+)"|<path d="M[-\d.]+ ([-\d.]+))/g)].map((m) => ({
    phase: m[1] as string,
    // A circle's centre, or a path's first point: 4 above the centre for a cross, 5 for a diamond or triangle.
    y: m[2] !== undefined ? Number(m[2]) : Number(m[3]) + (m[1] === 'Failed' ? 4 : 5),
  }));
  const line = /<line class="threshold"[^>]* y1="([-\d.]+)"/.exec(svg);
  const failing = /<rect class="failing"[^>]* y="([-\d.]+)" width="[-\d.]+" height="([-\d.]+)"/.exec(svg);
  return {
    points,
    ...(line && { lineY: Number(line[1]) }),
    ...(failing && { failing: { y: Number(failing[1]), height: Number(failing[2]) } }),
  };
}

describe('plotSvg', () => {
  const series = [
    { time: at(0), value: 0.99, phase: 'Successful' },
    { time: at(5), phase: 'Error' },
    { time: at(10), value: 0.9, phase: 'Failed' },
    { time: at(15), value: 0.95, phase: 'Inconclusive' },
  ];

  it('draws one marked point per measurement, in order, those without a value on the baseline', () => {
    const svg = plotSvg(series, { height: 170 });
    const { points } = geometry(svg);
    expect(points.map((p) => p.phase)).toEqual(['Successful', 'Error', 'Failed', 'Inconclusive']);
    const [good, error, bad] = points;
    expect(error?.y).toBe(170 - 26);
    expect(good?.y).toBeLessThan(bad?.y ?? 0);
    expect(svg).toContain('<polyline class="line"');
    expect(svg).toContain('>10:00:00<');
    expect(svg).toContain('>10:00:15<');
  });

  it('puts a success floor under the passing values and shades below it; a failure ceiling shades above', () => {
    const floor = geometry(plotSvg(series, { threshold: { op: '>=', value: 0.95, condition: 'success', expression: 'result >= 0.95' } }));
    expect(floor.lineY).toBeDefined();
    const lineY = floor.lineY as number;
    expect(floor.points.find((p) => p.phase === 'Successful')?.y).toBeLessThan(lineY);
    expect(floor.points.find((p) => p.phase === 'Failed')?.y).toBeGreaterThan(lineY);
    expect(floor.failing?.y).toBeCloseTo(lineY);
    const ceiling = geometry(plotSvg(series, { threshold: { op: '>', value: 0.95, condition: 'failure', expression: 'result > 0.95' } }));
    expect((ceiling.failing?.y ?? 0) + (ceiling.failing?.height ?? 0)).toBeCloseTo(ceiling.lineY as number);
    const upper = geometry(plotSvg(series, { threshold: { op: '<', value: 0.95, condition: 'success', expression: 'result < 0.95' } }));
    expect(upper.failing?.y).toBeLessThan(upper.lineY as number);
  });

  it('keeps the threshold in view even when every value is far from it', () => {
    const far = geometry(plotSvg([{ time: at(0), value: 100, phase: 'Successful' }], { threshold: { op: '<=', value: 5, condition: 'success', expression: 'result <= 5' }, height: 170 }));
    expect(far.lineY).toBeGreaterThan(12);
    expect(far.lineY).toBeLessThan(170 - 26);
  });

  it('escapes the condition and the phase, which come from the cluster', () => {
    const svg = plotSvg([{ time: at(0), value: 1, phase: '"><script>x</script>' }], { threshold: { op: '<', value: 2, condition: 'success', expression: 'result < 2 <script>' } });
    expect(svg).not.toContain('<script>');
    expect(svg).toContain('result &lt; 2 &lt;script&gt;');
  });

  it('draws an empty series without failing, and shortens long numbers', () => {
    expect(geometry(plotSvg([])).points).toEqual([]);
    expect(short(0.09874999999999999)).toBe('0.09875');
  });
});

describe('distributionsSvg', () => {
  const side = (shift: number) => ({ n: 60, min: 0.1 + shift, p25: 0.2 + shift, median: 0.25 + shift, p75: 0.3 + shift, p90: 0.35 + shift, max: 0.4 + shift });
  /** Each role's median line y (y grows downwards), from the SVG text. */
  const medians = (svg: string): Record<string, number> =>
    Object.fromEntries([...svg.matchAll(/data-role="(\w+)"><title>[^<]*<\/title>.*?<line class="median"[^>]* y1="([-\d.]+)"/g)].map((m) => [m[1], Number(m[2])]));

  it('draws a box per role, the canary shifted up when its samples are higher', () => {
    const svg = distributionsSvg({ class: 'High', baseline: side(0), canary: side(0.2) });
    const y = medians(svg);
    expect(Object.keys(y)).toEqual(['baseline', 'canary']);
    expect((y.canary as number) < (y.baseline as number)).toBe(true);
    expect(svg).toContain('baseline: median 0.25, n 60');
    expect(svg).toContain('canary: median 0.45, n 60');
  });

  it('draws counts as error-rate bars with errors out of requests, and says when a side has no data', () => {
    const svg = distributionsSvg({ class: 'Pass', baseline: { n: 6, errors: 36, requests: 600 }, canary: { n: 6, errors: 0, requests: 0 } });
    expect(svg).toContain('baseline: 6% (36/600)');
    expect(svg).toContain('canary: no data');
    expect(svg).not.toContain('class="median"');
  });
});
