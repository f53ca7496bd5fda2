import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_RESPONSE_BYTES } from '../../src/analysis/providers/result.js';
import { leaseTiming, loadConfig } from '../../src/config.js';
import { LEASE_DEFAULTS } from '../../src/kube/lease.js';

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

  it('runs unsharded with the 10/7/2 s Lease timing unless told otherwise, by flag or environment', () => {
    expect(loadConfig([], {})).toMatchObject({ shards: 1, leaseDurationSeconds: 10, leaseRenewDeadlineSeconds: 7, leaseRetryPeriodSeconds: 2 });
    expect(leaseTiming(loadConfig([], {}))).toEqual(LEASE_DEFAULTS);
    const sharded = loadConfig(['--shards', '8', '--lease-duration', '4', '--lease-renew-deadline', '2.5', '--lease-retry-period', '0.5'], {});
    expect(sharded).toMatchObject({ shards: 8, leaseDurationSeconds: 4 });
    expect(leaseTiming(sharded)).toEqual({ leaseDurationMs: 4_000, renewDeadlineMs: 2_500, retryPeriodMs: 500 });
    expect(loadConfig([], { FLEDGE_SHARDS: '4', FLEDGE_LEASE_DURATION: '20', FLEDGE_LEASE_RENEW_DEADLINE: '15', FLEDGE_LEASE_RETRY_PERIOD: '3' })).toMatchObject({
      shards: 4,
      leaseDurationSeconds: 20,
      leaseRenewDeadlineSeconds: 15,
      leaseRetryPeriodSeconds: 3,
    });
  });

  it('refuses shards with leader election, a Lease timing under which a holder could act after it may be taken over, and part seconds of duration', () => {
    expect(() => loadConfig(['--shards', '4', '--leader-elect'], {})).toThrow(/--shards above 1 replaces --leader-elect/);
    expect(loadConfig(['--shards', '1', '--leader-elect'], {}).leaderElect).toBe(true);
    expect(() => loadConfig(['--shards', '0'], {})).toThrow(/shards/);
    expect(() => loadConfig(['--lease-renew-deadline', '10'], {})).toThrow(/--lease-retry-period < --lease-renew-deadline < --lease-duration/);
    expect(() => loadConfig(['--lease-retry-period', '7'], {})).toThrow(/--lease-retry-period < --lease-renew-deadline/);
    expect(() => loadConfig(['--lease-duration', '2.5', '--lease-renew-deadline', '2', '--lease-retry-period', '1'], {})).toThrow(/leaseDurationSeconds/);
  });
});
