import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { prometheusConfig } from '../../harness/cluster.js';
import { ports } from '../../harness/config.js';
import { GATEWAY, crdsIn, gatewayManifests, requiredVersion, traefikConfig, withoutConversionWebhook } from '../../harness/dataplane.js';
import { podTargetGroups } from '../../harness/pod-discovery.js';

describe('which Gateway API version goes with Traefik', () => {
  it('reads a requirement from a require block or a single require line, and nothing else', () => {
    const goMod = ['module x', '', 'require (', '\tsigs.k8s.io/gateway-api-inference v0.1.0', '\tsigs.k8s.io/gateway-api v1.4.0', ')', 'require k8s.io/api v0.34.3 // indirect', ''].join('\n');
    expect(requiredVersion(goMod, 'sigs.k8s.io/gateway-api')).toBe('v1.4.0');
    expect(requiredVersion(goMod, 'k8s.io/api')).toBe('v0.34.3');
    expect(requiredVersion(goMod, 'istio.io/api')).toBeUndefined();
    // A dot in a module path is a dot, not any character.
    expect(requiredVersion('require sigsXk8sXio/gateway-api v9.9.9\n', 'sigs.k8s.io/gateway-api')).toBeUndefined();
  });
});

describe('the CRDs in a manifest file', () => {
  const file = [
    'apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: virtualservices.networking.istio.io}\nspec: {group: networking.istio.io}',
    'apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: telemetries.telemetry.istio.io}\nspec: {group: telemetry.istio.io}',
    '',
    'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: not-a-crd}',
  ].join('\n---\n');

  it('keeps only CustomResourceDefinitions, of the groups asked for', () => {
    expect(crdsIn(file).map((crd) => crd.metadata.name)).toEqual(['virtualservices.networking.istio.io', 'telemetries.telemetry.istio.io']);
    expect(crdsIn(file, new Set(['networking.istio.io'])).map((crd) => crd.metadata.name)).toEqual(['virtualservices.networking.istio.io']);
  });

  it('drops a conversion webhook no one runs, and keeps the rest of the CRD', () => {
    const crd = {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: 'mappings.getambassador.io' },
      spec: { group: 'getambassador.io', conversion: { strategy: 'Webhook', webhook: { clientConfig: { service: { name: 'emissary-apiext' } } } }, versions: [{ name: 'v2' }] },
    };
    expect(withoutConversionWebhook(crd)).toEqual({ ...crd, spec: { group: 'getambassador.io', conversion: { strategy: 'None' }, versions: [{ name: 'v2' }] } });
  });
});

describe('Traefik and its Gateway', () => {
  it('gives the Gateway listener the port of the `web` entrypoint, which is how Traefik pairs them', () => {
    const config = yaml.load(traefikConfig({ apiserverUrl: 'https://127.0.0.1:1', caFile: '/ca.crt', tokenFile: '/token' })) as {
      entryPoints: Record<string, { address: string }>;
      providers: Record<string, { endpoint: string; token: string; certAuthFilePath: string }>;
      global: { sendAnonymousUsage: boolean; checkNewVersion: boolean };
    };
    expect(config.entryPoints.web?.address).toBe(`127.0.0.1:${ports.gateway}`);
    expect(config.entryPoints.traefik?.address).toBe(`127.0.0.1:${ports.traefik}`);
    for (const provider of ['kubernetesGateway', 'kubernetesCRD']) {
      expect(config.providers[provider]).toEqual({ endpoint: 'https://127.0.0.1:1', token: '/token', certAuthFilePath: '/ca.crt' });
    }
    // No calls home from a test run.
    expect(config.global).toEqual({ checkNewVersion: false, sendAnonymousUsage: false });

    const gateway = gatewayManifests().find((m) => m.kind === 'Gateway');
    expect(gateway?.metadata).toEqual({ name: GATEWAY.name, namespace: GATEWAY.namespace });
    expect(gateway?.spec?.listeners).toEqual([{ name: GATEWAY.listener, protocol: 'HTTP', port: ports.gateway, allowedRoutes: { namespaces: { from: 'All' } } }]);
  });
});

describe('the Prometheus configuration', () => {
  interface Job {
    job_name: string;
    relabel_configs?: Array<{ action?: string; source_labels: string[]; regex?: string; target_label?: string; replacement?: string }>;
    static_configs?: Array<{ targets: string[] }>;
    http_sd_configs?: Array<Record<string, unknown>>;
  }
  const jobs = (text: string): Job[] => (yaml.load(text) as { scrape_configs: Job[] }).scrape_configs;

  it('keeps the file_sd job, and adds Traefik and pod discovery only with a data plane', () => {
    expect(jobs(prometheusConfig('/targets')).map((j) => j.job_name)).toEqual(['prometheus', 'fledge-test']);
    const all = jobs(prometheusConfig('/targets', { traefikMetricsUrl: 'http://127.0.0.1:9100/metrics', podDiscoveryUrl: 'http://127.0.0.1:9200/targets' }));
    expect(all.map((j) => j.job_name)).toEqual(['prometheus', 'fledge-test', 'traefik', 'kubernetes-pods']);
    expect(all[2]?.static_configs).toEqual([{ targets: ['127.0.0.1:9100'] }]);
    const pods = all[3];
    expect(pods?.http_sd_configs).toEqual([{ url: 'http://127.0.0.1:9200/targets', refresh_interval: '1s' }]);
    const relabel = pods?.relabel_configs ?? [];
    expect(relabel.filter((r) => r.action === 'keep').map((r) => r.source_labels[0])).toContain('__meta_kubernetes_pod_label_fledge_dev_pod_template_hash');
    expect(Object.fromEntries(relabel.filter((r) => r.target_label).map((r) => [r.target_label, r.source_labels.join(';')]))).toEqual({
      __address__: '__meta_kubernetes_pod_ip;__meta_kubernetes_pod_container_port_number',
      namespace: '__meta_kubernetes_namespace',
      pod: '__meta_kubernetes_pod_name',
      pod_template_hash: '__meta_kubernetes_pod_label_fledge_dev_pod_template_hash',
    });
  });
});

describe('pod discovery, as kubernetes_sd would label a pod', () => {
  const pod = {
    metadata: {
      name: 'web-1',
      namespace: 'shop',
      uid: 'u1',
      labels: { 'fledge.dev/pod-template-hash': 'abc', app: 'web' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web', uid: 'r1', controller: true }],
    },
    spec: {
      nodeName: 'kwok-node-0',
      initContainers: [{ name: 'setup', image: 'busybox' }],
      containers: [
        { name: 'app', image: 'demo:v1', ports: [{ name: 'http', containerPort: 8080 }, { containerPort: 53, protocol: 'UDP' }] },
        { name: 'sidecar', image: 'proxy' },
      ],
    },
    status: { podIP: '198.18.0.9', hostIP: '127.0.0.1', phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
  };

  it('gives one target per declared port and one per container without ports, with the pod, label and container meta labels', () => {
    const groups = podTargetGroups(pod);
    expect(groups.map((g) => g.targets)).toEqual([['198.18.0.9'], ['198.18.0.9:8080'], ['198.18.0.9:53'], ['198.18.0.9']]);
    expect(groups.map((g) => g.labels.__meta_kubernetes_pod_container_init)).toEqual(['true', 'false', 'false', 'false']);
    expect(groups[1]?.labels).toEqual({
      __meta_kubernetes_namespace: 'shop',
      __meta_kubernetes_pod_name: 'web-1',
      __meta_kubernetes_pod_ip: '198.18.0.9',
      __meta_kubernetes_pod_ready: 'true',
      __meta_kubernetes_pod_phase: 'Running',
      __meta_kubernetes_pod_node_name: 'kwok-node-0',
      __meta_kubernetes_pod_host_ip: '127.0.0.1',
      __meta_kubernetes_pod_uid: 'u1',
      __meta_kubernetes_pod_controller_kind: 'ReplicaSet',
      __meta_kubernetes_pod_controller_name: 'web',
      __meta_kubernetes_pod_label_fledge_dev_pod_template_hash: 'abc',
      __meta_kubernetes_pod_labelpresent_fledge_dev_pod_template_hash: 'true',
      __meta_kubernetes_pod_label_app: 'web',
      __meta_kubernetes_pod_labelpresent_app: 'true',
      __meta_kubernetes_pod_container_name: 'app',
      __meta_kubernetes_pod_container_image: 'demo:v1',
      __meta_kubernetes_pod_container_init: 'false',
      __meta_kubernetes_pod_container_port_name: 'http',
      __meta_kubernetes_pod_container_port_number: '8080',
      __meta_kubernetes_pod_container_port_protocol: 'TCP',
    });
    expect(groups[2]?.labels.__meta_kubernetes_pod_container_port_protocol).toBe('UDP');
    expect(groups[3]?.labels.__meta_kubernetes_pod_container_port_number).toBeUndefined();
  });

  it('says whether the pod is ready, and has nothing for a pod without an IP', () => {
    const unready = { ...pod, status: { ...pod.status, conditions: [{ type: 'Ready', status: 'False' }] } };
    expect(podTargetGroups(unready)[1]?.labels.__meta_kubernetes_pod_ready).toBe('false');
    expect(podTargetGroups({ ...pod, status: { phase: 'Pending' } })).toEqual([]);
  });
});
