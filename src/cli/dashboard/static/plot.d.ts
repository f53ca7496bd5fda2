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

export interface DistributionSide {
  n?: number;
  min?: number;
  p25?: number;
  median?: number;
  p75?: number;
  p90?: number;
  max?: number;
  errors?: number;
  requests?: number;
}

export function distributionsSvg(judgement: { class: string; baseline?: DistributionSide; canary?: DistributionSide }, options?: { width?: number; height?: number; label?: string }): string;
