// Types of plot.js, which the browser loads as written: for the unit tests, and for whatever else plots timed, judged values.

export interface PlotPoint {
  /** RFC 3339. */
  time: string;
  /** Absent: the point sits on the baseline (an Error measurement has no value). */
  value?: number;
  /** A CSS class and data-phase: Successful, Failed, Inconclusive, Error, or anything else for a plain dot. */
  phase: string;
}

export interface PlotThreshold {
  op: '<' | '<=' | '>' | '>=';
  value: number;
  condition: 'success' | 'failure';
  expression: string;
}

export function short(value: number | string): string;

export function plotSvg(series: PlotPoint[], options?: { threshold?: PlotThreshold; width?: number; height?: number; label?: string }): string;
