import { parseArgs } from 'node:util';
import { z } from 'zod';

/** Controller configuration from flags, falling back to FLEDGE_* environment variables. */
export const ControllerConfig = z.object({
  kubeconfig: z.string().optional(),
  /** Empty: every namespace. */
  namespaces: z.array(z.string().min(1)),
  concurrency: z.coerce.number().int().min(1).max(64),
  logLevel: z.enum(['debug', 'info', 'warn', 'error']),
});
export type ControllerConfig = z.infer<typeof ControllerConfig>;

export const USAGE = `usage: fledge-controller [flags]
  --kubeconfig PATH     kubeconfig to use (default: KUBECONFIG, then in-cluster)        env FLEDGE_KUBECONFIG
  --namespaces A,B      namespaces to watch (default: all)                             env FLEDGE_NAMESPACES
  --concurrency N       Rollouts reconciled in parallel (default 4)                    env FLEDGE_CONCURRENCY
  --log-level LEVEL     debug|info|warn|error (default info)                           env FLEDGE_LOG_LEVEL`;

export function loadConfig(argv: string[], env: NodeJS.ProcessEnv): ControllerConfig {
  const { values } = parseArgs({
    args: argv,
    options: {
      kubeconfig: { type: 'string' },
      namespaces: { type: 'string' },
      concurrency: { type: 'string' },
      'log-level': { type: 'string' },
    },
    strict: true,
  });
  const namespaces = values.namespaces ?? env.FLEDGE_NAMESPACES ?? '';
  const parsed = ControllerConfig.safeParse({
    kubeconfig: values.kubeconfig ?? env.FLEDGE_KUBECONFIG,
    namespaces: namespaces.split(',').map((n) => n.trim()).filter(Boolean),
    concurrency: values.concurrency ?? env.FLEDGE_CONCURRENCY ?? 4,
    logLevel: values['log-level'] ?? env.FLEDGE_LOG_LEVEL ?? 'info',
  });
  if (!parsed.success) {
    throw new Error(`invalid configuration: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}\n${USAGE}`);
  }
  return parsed.data;
}
