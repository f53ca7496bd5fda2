import type { MetricProvider } from '../../api/analysis.js';
import { prometheusProvider, type PrometheusProviderDeps } from './prometheus.js';
import type { MeasurementProvider } from './provider.js';
import { webProvider } from './web.js';

export type ProviderDeps = PrometheusProviderDeps;

/** The provider that measures a metric: the one place that looks at which kind it is. */
export function providerFor(provider: MetricProvider, deps: ProviderDeps): MeasurementProvider {
  if ('prometheus' in provider) return prometheusProvider(deps, provider.prometheus);
  return webProvider(deps, provider.web);
}
