import type { z } from 'zod';
import type { AnalysisTemplate } from '../../src/api/analysis.js';
import { API_VERSION, type CanaryStrategy, type Rollout } from '../../src/api/rollout.js';

/** A Rollout as a test applies it, typed by the API's schema: a fixture the schema would refuse does not compile. */
export type RolloutManifest = Omit<z.input<typeof Rollout>, 'status'>;
export type AnalysisTemplateManifest = z.input<typeof AnalysisTemplate>;

export interface CanaryRolloutOptions {
  replicas: number;
  image: string;
  canary: z.input<typeof CanaryStrategy>;
  /** Replaces the parts of the spec it names (a pod template of its own, configTracking, ...). */
  spec?: Partial<RolloutManifest['spec']>;
}

/** The usual e2e Rollout: `replicas` pods of one container `app` running `image`, selected by `app: <name>`. */
export function canaryRollout(name: string, { replicas, image, canary, spec }: CanaryRolloutOptions): RolloutManifest {
  return {
    apiVersion: API_VERSION,
    kind: 'Rollout',
    metadata: { name },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image }] } },
      strategy: { canary },
      ...spec,
    },
  };
}

export function analysisTemplate(name: string, spec: AnalysisTemplateManifest['spec']): AnalysisTemplateManifest {
  return { apiVersion: API_VERSION, kind: 'AnalysisTemplate', metadata: { name }, spec };
}
