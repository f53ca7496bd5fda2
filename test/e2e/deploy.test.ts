import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CONTROLLER_NAMESPACE, controllerKubeconfig, kubectl } from '../harness/e2e.js';

const repoRoot = join(import.meta.dirname, '..', '..');

describe('deploy/', () => {
  beforeAll(async () => {
    // A server-side dry run creates nothing, so namespaced objects need their namespace to exist already.
    await controllerKubeconfig();
    const stubs = await kubectl(['apply', '-f', join(repoRoot, 'test/fixtures/monitoring-crds/crds.yaml')]);
    expect(stubs.code, stubs.stderr).toBe(0);
    await kubectl(['wait', '--for=condition=Established', '--timeout=60s', '-f', join(repoRoot, 'test/fixtures/monitoring-crds/crds.yaml')]);
  });

  it.each(['deploy', 'deploy/overlays/namespaced', 'deploy/overlays/monitoring'])('%s is accepted by the apiserver (server-side dry run)', async (dir) => {
    const res = await kubectl(['apply', '--server-side', '--force-conflicts', '--dry-run=server', '-k', join(repoRoot, dir)]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain('deployment.apps/fledge-controller serverside-applied (server dry run)');
  });

  it('the base installs the hardened, leader-elected Deployment, its PDB and its metrics Service', async () => {
    const rendered = await kubectl(['kustomize', join(repoRoot, 'deploy')]);
    expect(rendered.code, rendered.stderr).toBe(0);
    const text = rendered.stdout;
    for (const kind of ['Namespace', 'CustomResourceDefinition', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding', 'Deployment', 'Service', 'PodDisruptionBudget']) {
      expect(text).toContain(`kind: ${kind}\n`);
    }
    expect(text).toContain('replicas: 2');
    expect(text).toContain('- --leader-elect');
    expect(text).toContain('readOnlyRootFilesystem: true');
    expect(text).toContain('runAsNonRoot: true');
    expect(text).toMatch(/seccompProfile:\n\s+type: RuntimeDefault/);
    expect(text).toMatch(/capabilities:\n\s+drop:\n\s+- ALL/);
    expect(text).not.toMatch(/verbs:[^\n]*\*|resources:[^\n]*\*|apiGroups:[^\n]*\*/);
  });

  it('the ServiceAccount can do what the controller needs and nothing else (kubectl auth can-i with its token)', async () => {
    const kubeconfig = await controllerKubeconfig();
    const can = async (verb: string, resource: string, namespace = 'default', subresource?: string): Promise<string> =>
      (await kubectl(['--kubeconfig', kubeconfig, 'auth', 'can-i', verb, resource, '-n', namespace, ...(subresource ? [`--subresource=${subresource}`] : [])])).stdout.trim();
    expect(await can('watch', 'rollouts.fledge.dev')).toBe('yes');
    expect(await can('patch', 'rollouts.fledge.dev', 'default')).toBe('no');
    expect(await can('patch', 'rollouts.fledge.dev', 'default', 'status')).toBe('yes');
    expect(await can('delete', 'rollouts.fledge.dev')).toBe('no');
    expect(await can('create', 'replicasets.apps')).toBe('yes');
    expect(await can('update', 'deployments.apps')).toBe('no');
    expect(await can('list', 'pods')).toBe('yes');
    expect(await can('watch', 'pods')).toBe('no');
    expect(await can('create', 'pods')).toBe('no');
    expect(await can('get', 'secrets')).toBe('yes');
    expect(await can('list', 'secrets')).toBe('no');
    expect(await can('get', 'configmaps')).toBe('no');
    expect(await can('update', 'leases.coordination.k8s.io', CONTROLLER_NAMESPACE)).toBe('yes');
    expect(await can('update', 'leases.coordination.k8s.io', 'default')).toBe('no');
    expect(await can('create', 'clusterroles.rbac.authorization.k8s.io')).toBe('no');
  });
});
