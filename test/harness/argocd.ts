import { join } from 'node:path';
import { downloadGoModule } from './build.js';
import { ARGOCD_VERSION } from './config.js';
import { eventually, kubectl } from './e2e.js';
import { HarnessError } from './errors.js';

/**
 * Installs Argo CD's Application CRD, as Argo CD ships it in its Go module (no Argo CD runs: the tests play it),
 * so the controller reads real Application objects through the apiserver. Server-side, so a second apply is a no-op.
 */
export async function installArgoCdApplicationCrd(): Promise<void> {
  const source = await downloadGoModule('github.com/argoproj/argo-cd/v3', ARGOCD_VERSION);
  const crd = join(source, 'manifests', 'crds', 'application-crd.yaml');
  const applied = await kubectl(['apply', '--server-side', '--force-conflicts', '-f', crd]);
  if (applied.code !== 0) throw new HarnessError(`applying Argo CD ${ARGOCD_VERSION}'s Application CRD failed: ${applied.stderr}`);
  // Polled rather than `kubectl wait`, which fails on a CRD so new that it has no status.conditions yet.
  await eventually('Argo CD\'s Application CRD to be established', async () => {
    const established = await kubectl(['get', 'crd', 'applications.argoproj.io', '-o', 'jsonpath={.status.conditions[?(@.type=="Established")].status}']);
    return established.stdout === 'True' ? true : undefined;
  });
}
