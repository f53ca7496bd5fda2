import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

/** Pinned versions: the binary cache is keyed by them, so bumping one triggers exactly one rebuild. */
export const KUBERNETES_VERSION = 'v1.35.4';
export const KWOK_VERSION = 'v0.7.0';
export const HELM_VERSION = 'v3.19.0';
/** The gateway that routes test traffic; v3.7 no longer builds from the module proxy's source. */
export const TRAEFIK_VERSION = 'v3.6.12';
/** networking.istio.io CRDs come from this istio.io/api module; Gateway API's version is the one Traefik requires. */
export const ISTIO_API_VERSION = 'v1.31.4';
/** The Ambassador router's Mapping CRD comes from Emissary's module (manifests/emissary/emissary-crds.yaml.in, as it ships). */
export const EMISSARY_VERSION = 'v3.10.0';
/** Argo CD's Application CRD (write-back discovery); v3.6 needs Go 1.27 even to download, so the last v3.5. */
export const ARGOCD_VERSION = 'v3.5.7';
/** Flux's controllers for the GitOps tests; kustomize-controller v1.9.x reads source-controller v1.9.x's artifacts. */
export const FLUX_SOURCE_CONTROLLER_VERSION = 'v1.9.1';
export const FLUX_KUSTOMIZE_CONTROLLER_VERSION = 'v1.9.4';
/** Only the HelmRelease CRD is taken from it (the tests play helm-controller); v1.4.0 is the newest the proxy serves here. */
export const FLUX_HELM_CONTROLLER_VERSION = 'v1.4.0';
/** Argo Rollouts, which the scale bench measures Fledge against: the newest v1.9 that Go 1.26.8 builds (v1.9.3 needs 1.26.10). */
export const ARGO_ROLLOUTS_VERSION = 'v1.9.2';

export const cacheDir = process.env.FLEDGE_CACHE_DIR ?? join(homedir(), '.cache', 'fledge');
export const k8sBinary = join(cacheDir, `k8s-${KUBERNETES_VERSION}`, 'fledge-k8s');
export const kwokBinary = join(cacheDir, `kwok-${KWOK_VERSION}`, 'kwok');
export const helmBinary = join(cacheDir, `helm-${HELM_VERSION}`, 'helm');
export const traefikBinary = join(cacheDir, `traefik-${TRAEFIK_VERSION}`, 'traefik');
export const fluxSourceControllerBinary = join(cacheDir, `flux-source-controller-${FLUX_SOURCE_CONTROLLER_VERSION}`, 'source-controller');
export const fluxKustomizeControllerBinary = join(cacheDir, `flux-kustomize-controller-${FLUX_KUSTOMIZE_CONTROLLER_VERSION}`, 'kustomize-controller');
export const argoRolloutsBinary = join(cacheDir, `argo-rollouts-${ARGO_ROLLOUTS_VERSION}`, 'rollouts-controller');
/** Argo Rollouts' CRDs (manifests/crds of the same module), copied beside the binary when it is built. */
export const argoRolloutsCrdsDir = join(cacheDir, `argo-rollouts-${ARGO_ROLLOUTS_VERSION}`, 'crds');
/** A directory with a `kubectl` that matches the apiserver's version (a symlink into the multi-call binary). */
export const kubectlDir = join(cacheDir, `k8s-${KUBERNETES_VERSION}`, 'bin');
export const kubectlBinary = join(kubectlDir, 'kubectl');

/** Everything a running cluster owns lives here; cluster:down removes it. */
export const clusterDir = process.env.FLEDGE_CLUSTER_DIR ?? join(tmpdir(), 'fledge-cluster');

const portBase = Number(process.env.FLEDGE_CLUSTER_PORT_BASE ?? 16440);

export const ports = {
  etcdClient: portBase,
  etcdPeer: portBase + 1,
  /** Traefik's own entrypoint: /ping and /metrics. */
  traefik: portBase + 2,
  apiserver: portBase + 3,
  /** Traefik's entrypoint for requests; the harness Gateway's listener has the same port, which is how Traefik matches them. */
  gateway: portBase + 4,
  kwok: portBase + 5,
  /** The harness's pod discovery for Prometheus (pod-discovery.ts). */
  podDiscovery: portBase + 6,
  prometheus: portBase + 10,
} as const;

/**
 * kwok gives Pods IPs from this range, and `up` makes every address in it local (`ip addr add <cidr> dev lo`) so
 * the workload simulator can answer on a Pod's own IP. Loopback (127/8) would not do: the apiserver refuses
 * endpoints there. 198.18.0.0/15 is reserved for benchmarking (RFC 2544), so it clashes with no real network.
 */
export const podCidr = process.env.FLEDGE_CLUSTER_POD_CIDR ?? '198.18.0.0/16';

export const NODE_COUNT = 2;
/** Pods each fake node takes: the scale bench's 10,000 Rollouts hold two pods each at their pause. */
export const NODE_POD_CAPACITY = 15_000;
/**
 * Client-side limits of kube-controller-manager and kube-scheduler (defaults 20 and 50 QPS), so that creating and
 * binding the pods of thousands of ReplicaSets never is what a scale measurement measures. kwok sets none.
 */
export const CONTROL_PLANE_CLIENT = { qps: 500, burst: 1000 } as const;
