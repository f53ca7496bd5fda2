import type { MetricProvider } from '../../api/analysis.js';
import { jobProvider, type JobsApi } from './job.js';
import { judgeProvider } from './judge.js';
import { prometheusProvider, type PrometheusProviderDeps } from './prometheus.js';
import type { MeasurementProvider } from './provider.js';
import { webProvider } from './web.js';

export interface ProviderDeps extends PrometheusProviderDeps {
  jobs: JobsApi;
  now: () => number;
}

/** The provider that measures a metric: the one place that looks at which kind it is. */
export function providerFor(provider: MetricProvider, deps: ProviderDeps): MeasurementProvider {
  if ('prometheus' in provider) return prometheusProvider(deps, provider.prometheus);
  if ('web' in provider) return webProvider(deps, provider.web);
  if ('judge' in provider) return judgeProvider(deps, provider.judge);
  return jobProvider(deps.jobs, provider.job);
}
