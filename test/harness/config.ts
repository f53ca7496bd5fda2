import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

/** Pinned versions: the binary cache is keyed by them, so bumping one triggers exactly one rebuild. */
export const KUBERNETES_VERSION = 'v1.35.4';
export const KWOK_VERSION = 'v0.7.0';
export const HELM_VERSION = 'v3.19.0';
/** The gateway that routes test traffic; v3.7 no longer builds from the module proxy's source. */
export const TRAEFIK_VERSION = 'v3.6.12';

export const cacheDir = process.env.FLEDGE_CACHE_DIR ?? join(homedir(), '.cache', 'fledge');
export const k8sBinary = join(cacheDir, `k8s-${KUBERNETES_VERSION}`, 'fledge-k8s');
export const kwokBinary = join(cacheDir, `kwok-${KWOK_VERSION}`, 'kwok');
export const helmBinary = join(cacheDir, `helm-${HELM_VERSION}`, 'helm');
export const traefikBinary = join(cacheDir, `traefik-${TRAEFIK_VERSION}`, 'traefik');
/** A directory with a `kubectl` that matches the apiserver's version (a symlink into the multi-call binary). */
export const kubectlDir = join(cacheDir, `k8s-${KUBERNETES_VERSION}`, 'bin');
export const kubectlBinary = join(kubectlDir, 'kubectl');

/** Everything a running cluster owns lives here; cluster:down removes it. */
export const clusterDir = process.env.FLEDGE_CLUSTER_DIR ?? join(tmpdir(), 'fledge-cluster');

const portBase = Number(process.env.FLEDGE_CLUSTER_PORT_BASE ?? 16440);

export const ports = {
  etcdClient: portBase,
  etcdPeer: portBase + 1,
  apiserver: portBase + 3,
  kwok: portBase + 5,
  prometheus: portBase + 10,
} as const;

export const NODE_COUNT = 2;
