import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_RESPONSE_BYTES } from '../../src/analysis/providers/result.js';
import { loadConfig } from '../../src/config.js';

describe('controller configuration', () => {
  it('bounds a provider answer at 8 MiB unless told otherwise, by flag or environment', () => {
    expect(loadConfig([], {}).maxProviderResponseBytes).toBe(DEFAULT_MAX_RESPONSE_BYTES);
    expect(DEFAULT_MAX_RESPONSE_BYTES).toBe(8 * 1024 * 1024);
    expect(loadConfig(['--max-provider-response-bytes', '65536'], {}).maxProviderResponseBytes).toBe(65536);
    expect(loadConfig([], { FLEDGE_MAX_PROVIDER_RESPONSE_BYTES: '2048' }).maxProviderResponseBytes).toBe(2048);
  });

  it('refuses a limit that is no limit, or too small to hold an answer', () => {
    expect(() => loadConfig(['--max-provider-response-bytes', '0'], {})).toThrow(/maxProviderResponseBytes/);
    expect(() => loadConfig(['--max-provider-response-bytes', 'lots'], {})).toThrow(/maxProviderResponseBytes/);
    expect(() => loadConfig(['--max-provider-response-bytes', String(2 * 1024 ** 3)], {})).toThrow(/maxProviderResponseBytes/);
  });

  it('times out an unanswered API request after 60 s unless told otherwise', () => {
    expect(loadConfig([], {}).kubeApiTimeoutSeconds).toBe(60);
    expect(loadConfig(['--kube-api-timeout', '15'], {}).kubeApiTimeoutSeconds).toBe(15);
    expect(loadConfig([], { FLEDGE_KUBE_API_TIMEOUT: '5' }).kubeApiTimeoutSeconds).toBe(5);
    expect(() => loadConfig(['--kube-api-timeout', '0'], {})).toThrow(/kubeApiTimeoutSeconds/);
  });

  it('leaves write-back to the Rollouts and namespaces that opt in, unless told otherwise, and finds Argo CD in argocd', () => {
    expect(loadConfig([], {})).toMatchObject({ writeBack: 'off', argocdNamespace: 'argocd' });
    expect(loadConfig([], {}).writeBackSecret).toBeUndefined();
    expect(loadConfig(['--write-back', 'on', '--write-back-secret', 'git', '--argocd-namespace', 'gitops'], {})).toMatchObject({ writeBack: 'on', writeBackSecret: 'git', argocdNamespace: 'gitops' });
    expect(loadConfig([], { FLEDGE_WRITE_BACK: 'on', FLEDGE_WRITE_BACK_SECRET: 'git', FLEDGE_ARGOCD_NAMESPACE: 'gitops' })).toMatchObject({ writeBack: 'on', writeBackSecret: 'git', argocdNamespace: 'gitops' });
    expect(() => loadConfig(['--write-back', 'true'], {})).toThrow(/writeBack/);
  });
});
