import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { prometheusConfig } from '../../harness/cluster.js';
import { ports } from '../../harness/config.js';
import { GATEWAY, crdsIn, gatewayManifests, requiredVersion, traefikConfig } from '../../harness/dataplane.js';

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
    static_configs?: Array<{ targets: string[] }>;
  }
  const jobs = (text: string): Job[] => (yaml.load(text) as { scrape_configs: Job[] }).scrape_configs;

  it('keeps the file_sd job, and adds Traefik only with a data plane', () => {
    expect(jobs(prometheusConfig('/targets')).map((j) => j.job_name)).toEqual(['prometheus', 'fledge-test']);
    const all = jobs(prometheusConfig('/targets', { traefikMetricsUrl: 'http://127.0.0.1:9100/metrics' }));
    expect(all.map((j) => j.job_name)).toEqual(['prometheus', 'fledge-test', 'traefik']);
    expect(all[2]?.static_configs).toEqual([{ targets: ['127.0.0.1:9100'] }]);
  });
});
