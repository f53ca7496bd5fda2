import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import yaml from 'js-yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { helmBinary } from '../harness/config.js';
import { CONTROLLER_NAMESPACE, controllerKubeconfig, kubectl } from '../harness/e2e.js';

const repoRoot = join(import.meta.dirname, '..', '..');
const run = promisify(execFile);

describe('deploy/', () => {
  beforeAll(async () => {
    // A server-side dry run creates nothing, so namespaced objects need their namespace to exist already.
    await controllerKubeconfig();
    const stubs = await kubectl(['apply', '-f', join(repoRoot, 'test/fixtures/monitoring-crds/crds.yaml')]);
    expect(stubs.code, stubs.stderr).toBe(0);
    await kubectl(['wait', '--for=condition=Established', '--timeout=60s', '-f', join(repoRoot, 'test/fixtures/monitoring-crds/crds.yaml')]);
  });

  it.each(['deploy', 'deploy/overlays/namespaced', 'deploy/overlays/monitoring', 'deploy/overlays/sharded'])('%s is accepted by the apiserver (server-side dry run)', async (dir) => {
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

  it('the Helm chart renders (with the real helm) to objects the apiserver accepts, the same ones kustomize installs', async () => {
    const rendered = await run(helmBinary, ['template', 'fledge', join(repoRoot, 'deploy/helm/fledge'), '--namespace', CONTROLLER_NAMESPACE, '--include-crds']);
    const applied = await kubectl(['apply', '--server-side', '--force-conflicts', '--dry-run=server', '-n', CONTROLLER_NAMESPACE, '-f', '-'], { input: rendered.stdout });
    expect(applied.code, applied.stderr).toBe(0);
    const kustomized = await kubectl(['kustomize', join(repoRoot, 'deploy')]);
    const objects = (text: string): Map<string, Record<string, unknown>> =>
      new Map(
        yaml
          .loadAll(text)
          .filter((doc): doc is { kind: string; metadata: { name: string } } => typeof doc === 'object' && doc !== null && (doc as { kind?: string }).kind !== 'Namespace')
          .map((doc) => [`${doc.kind}/${doc.metadata.name}`, doc as unknown as Record<string, unknown>]),
      );
    const fromHelm = objects(rendered.stdout);
    const fromKustomize = objects(kustomized.stdout);
    expect([...fromHelm.keys()].sort()).toEqual([...fromKustomize.keys()].sort());
    expect(fromHelm.get('ClusterRole/fledge-controller')?.rules).toEqual(fromKustomize.get('ClusterRole/fledge-controller')?.rules);
    const specOf = (doc: Record<string, unknown> | undefined): unknown => (doc as { spec?: unknown } | undefined)?.spec;
    expect(specOf(fromHelm.get('CustomResourceDefinition/rollouts.fledge.dev'))).toEqual(specOf(fromKustomize.get('CustomResourceDefinition/rollouts.fledge.dev')));
    const containerOf = (doc: Record<string, unknown> | undefined): { args?: string[]; securityContext?: unknown } =>
      (doc as { spec: { template: { spec: { containers: Array<{ args?: string[]; securityContext?: unknown }> } } } }).spec.template.spec.containers[0] ?? {};
    expect(containerOf(fromHelm.get('Deployment/fledge-controller')).securityContext).toEqual(containerOf(fromKustomize.get('Deployment/fledge-controller')).securityContext);
    expect(containerOf(fromHelm.get('Deployment/fledge-controller')).args).toContain('--leader-elect');

    // Sharded: --shards instead of --leader-elect, and the Lease Role all the same.
    const sharded = await run(helmBinary, ['template', 'fledge', join(repoRoot, 'deploy/helm/fledge'), '--namespace', CONTROLLER_NAMESPACE, '--set', 'shards=8', '--set', 'replicaCount=4']);
    const shardedObjects = objects(sharded.stdout);
    expect(containerOf(shardedObjects.get('Deployment/fledge-controller')).args).toEqual(expect.arrayContaining(['--shards=8', '--lease-duration=10']));
    expect(containerOf(shardedObjects.get('Deployment/fledge-controller')).args).not.toContain('--leader-elect');
    expect(shardedObjects.get('Role/fledge-leader-election')?.rules).toEqual(fromKustomize.get('Role/fledge-leader-election')?.rules);
    const shardedKustomize = objects((await kubectl(['kustomize', join(repoRoot, 'deploy/overlays/sharded')])).stdout);
    expect(containerOf(shardedKustomize.get('Deployment/fledge-controller')).args?.[0]).toBe('--shards=8');

    const namespaced = await run(helmBinary, ['template', 'fledge', join(repoRoot, 'deploy/helm/fledge'), '--namespace', CONTROLLER_NAMESPACE, '--set', `watchNamespaces={${CONTROLLER_NAMESPACE}}`]);
    expect(namespaced.stdout).not.toContain('kind: ClusterRole');
    expect(namespaced.stdout).toContain(`--namespaces=${CONTROLLER_NAMESPACE}`);
    const namespacedApplied = await kubectl(['apply', '--dry-run=server', '-n', CONTROLLER_NAMESPACE, '-f', '-'], { input: namespaced.stdout });
    expect(namespacedApplied.code, namespacedApplied.stderr).toBe(0);
  });

  it('the ServiceAccount can do what the controller needs and nothing else (kubectl auth can-i with its token)', async () => {
    const kubeconfig = await controllerKubeconfig();
    const can = async (verb: string, resource: string, namespace = 'default', subresource?: string): Promise<string> =>
      (await kubectl(['--kubeconfig', kubeconfig, 'auth', 'can-i', verb, resource, '-n', namespace, ...(subresource ? [`--subresource=${subresource}`] : [])])).stdout.trim();
    expect(await can('watch', 'rollouts.fledge.dev')).toBe('yes');
    expect(await can('patch', 'rollouts.fledge.dev', 'default')).toBe('no');
    expect(await can('patch', 'rollouts.fledge.dev', 'default', 'status')).toBe('yes');
    expect(await can('delete', 'rollouts.fledge.dev')).toBe('no');
    // blockOwnerDeletion under OwnerReferencesPermissionEnforcement (enabled on the test apiserver) needs exactly this.
    expect(await can('update', 'rollouts.fledge.dev', 'default', 'finalizers')).toBe('yes');
    expect(await can('update', 'rollouts.fledge.dev', 'default')).toBe('no');
    expect(await can('create', 'replicasets.apps')).toBe('yes');
    expect(await can('update', 'deployments.apps')).toBe('no');
    // workloadRef: a Deployment's template is read and its replicas patched (scaleDown); never created or deleted.
    expect(await can('watch', 'deployments.apps')).toBe('yes');
    expect(await can('patch', 'deployments.apps')).toBe('yes');
    expect(await can('create', 'deployments.apps')).toBe('no');
    expect(await can('delete', 'deployments.apps')).toBe('no');
    // The job analysis provider: create, watch and delete Jobs, never change one.
    expect(await can('create', 'jobs.batch')).toBe('yes');
    expect(await can('watch', 'jobs.batch')).toBe('yes');
    expect(await can('delete', 'jobs.batch')).toBe('yes');
    expect(await can('patch', 'jobs.batch')).toBe('no');
    expect(await can('list', 'pods')).toBe('yes');
    expect(await can('watch', 'pods')).toBe('no');
    expect(await can('create', 'pods')).toBe('no');
    // A promoted canary's running pods take stableMetadata in place.
    expect(await can('patch', 'pods')).toBe('yes');
    // Config tracking: watch ConfigMaps and Secrets (metadata only), read one, create and delete copies; never change one.
    for (const resource of ['configmaps', 'secrets']) {
      for (const verb of ['get', 'list', 'watch', 'create', 'delete']) expect(await can(verb, resource), `${verb} ${resource}`).toBe('yes');
      for (const verb of ['update', 'patch']) expect(await can(verb, resource), `${verb} ${resource}`).toBe('no');
    }
    // A Rollout's Namespace is read after an abort for its write-back annotations; namespaces are never listed or watched.
    expect(await can('get', 'namespaces')).toBe('yes');
    expect(await can('list', 'namespaces')).toBe('no');
    expect(await can('update', 'namespaces')).toBe('no');
    expect(await can('update', 'leases.coordination.k8s.io', CONTROLLER_NAMESPACE)).toBe('yes');
    // With --shards: one list of the group's Leases a round, and a gone replica's membership Lease deleted.
    expect(await can('list', 'leases.coordination.k8s.io', CONTROLLER_NAMESPACE)).toBe('yes');
    expect(await can('delete', 'leases.coordination.k8s.io', CONTROLLER_NAMESPACE)).toBe('yes');
    expect(await can('list', 'leases.coordination.k8s.io', 'default')).toBe('no');
    expect(await can('update', 'leases.coordination.k8s.io', 'default')).toBe('no');
    expect(await can('create', 'clusterroles.rbac.authorization.k8s.io')).toBe('no');
  });

  it('the test apiserver enforces OwnerReferencesPermissionEnforcement, as OpenShift does, so the suite proves the finalizers grant', async () => {
    const ns = `owner-refs-${Date.now().toString(36)}`;
    const setup = [
      ['create', 'namespace', ns],
      ['create', 'serviceaccount', 'probe', '-n', ns],
      ['create', 'role', 'probe', '-n', ns, '--verb=create', '--resource=configmaps'],
      ['create', 'rolebinding', 'probe', '-n', ns, '--role=probe', `--serviceaccount=${ns}:probe`],
    ];
    for (const args of setup) expect((await kubectl(args)).code).toBe(0);
    const token = (await kubectl(['create', 'token', 'probe', '-n', ns])).stdout.trim();
    const owned = (blockOwnerDeletion: boolean): string =>
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: {
          name: `owned-${String(blockOwnerDeletion)}`,
          ownerReferences: [{ apiVersion: 'fledge.dev/v1alpha1', kind: 'Rollout', name: 'any', uid: '00000000-0000-0000-0000-000000000001', blockOwnerDeletion }],
        },
      });
    try {
      const refused = await kubectl(['--token', token, 'create', '-n', ns, '-f', '-'], { input: owned(true) });
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(/cannot set blockOwnerDeletion/);
      const allowed = await kubectl(['--token', token, 'create', '-n', ns, '-f', '-'], { input: owned(false) });
      expect(allowed.code, allowed.stderr).toBe(0);
    } finally {
      await kubectl(['delete', 'namespace', ns, '--wait=false']);
    }
  });
});
