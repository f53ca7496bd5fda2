// Pod discovery for Prometheus over HTTP SD, with kubernetes_sd's labels. Debian's prometheus is built without
// Kubernetes service discovery, so the harness watches pods itself and serves each pod's targets with the
// __meta_kubernetes_pod_* labels a `kubernetes_sd_configs: [{role: pod}]` job would give them: the scrape job's
// relabel_configs are the ones a real cluster's would be, and a Prometheus with kubernetes_sd could take over
// by swapping only the discovery block.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as k8s from '@kubernetes/client-node';

/** One HTTP SD target group: https://prometheus.io/docs/prometheus/latest/http_sd/ */
export interface TargetGroup {
  targets: string[];
  labels: Record<string, string>;
}

/** As Prometheus's strutil.SanitizeLabelName: every character a label name may not have becomes `_`. */
const sanitize = (name: string): string => name.replace(/[^a-zA-Z0-9_]/g, '_');

function metaMap(prefix: string, values: Record<string, string> | undefined): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const [key, value] of Object.entries(values ?? {})) {
    labels[`${prefix}_${sanitize(key)}`] = value;
    labels[`${prefix}present_${sanitize(key)}`] = 'true';
  }
  return labels;
}

/**
 * kubernetes_sd's targets for one pod (role: pod): one per declared container port at <podIP>:<port>, and one at
 * <podIP> for a container that declares none. A pod without an IP yet has none.
 */
export function podTargetGroups(pod: k8s.V1Pod): TargetGroup[] {
  const ip = pod.status?.podIP;
  if (!ip) return [];
  const ready = pod.status?.conditions?.find((c) => c.type === 'Ready')?.status;
  const controller = pod.metadata?.ownerReferences?.find((ref) => ref.controller);
  const podLabels: Record<string, string> = {
    __meta_kubernetes_namespace: pod.metadata?.namespace ?? '',
    __meta_kubernetes_pod_name: pod.metadata?.name ?? '',
    __meta_kubernetes_pod_ip: ip,
    __meta_kubernetes_pod_ready: ready === 'True' ? 'true' : ready === 'False' ? 'false' : 'unknown',
    __meta_kubernetes_pod_phase: pod.status?.phase ?? '',
    __meta_kubernetes_pod_node_name: pod.spec?.nodeName ?? '',
    __meta_kubernetes_pod_host_ip: pod.status?.hostIP ?? '',
    __meta_kubernetes_pod_uid: pod.metadata?.uid ?? '',
    ...(controller ? { __meta_kubernetes_pod_controller_kind: controller.kind, __meta_kubernetes_pod_controller_name: controller.name } : {}),
    ...metaMap('__meta_kubernetes_pod_label', pod.metadata?.labels),
    ...metaMap('__meta_kubernetes_pod_annotation', pod.metadata?.annotations),
  };
  const containers = [
    ...(pod.spec?.initContainers ?? []).map((container) => ({ container, init: 'true' })),
    ...(pod.spec?.containers ?? []).map((container) => ({ container, init: 'false' })),
  ];
  return containers.flatMap(({ container, init }) => {
    const labels = { ...podLabels, __meta_kubernetes_pod_container_name: container.name, __meta_kubernetes_pod_container_image: container.image ?? '', __meta_kubernetes_pod_container_init: init };
    if (!container.ports?.length) return [{ targets: [ip], labels }];
    return container.ports.map((port) => ({
      targets: [`${ip}:${port.containerPort}`],
      labels: {
        ...labels,
        __meta_kubernetes_pod_container_port_name: port.name ?? '',
        __meta_kubernetes_pod_container_port_number: String(port.containerPort),
        __meta_kubernetes_pod_container_port_protocol: port.protocol ?? 'TCP',
      },
    }));
  });
}

/** Watches every pod the kubeconfig may see and serves their target groups at http://127.0.0.1:<port>/targets. */
export async function startPodDiscovery(kubeconfig: string, port: number): Promise<{ url: string; stop: () => Promise<void> }> {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const informer = k8s.makeInformer<k8s.V1Pod>(kc, '/api/v1/pods', () => core.listPodForAllNamespaces());
  let stopped = false;
  let restart: NodeJS.Timeout | undefined;
  // The informer stops on an error (an apiserver paused by a test, say); start it again until stopped.
  informer.on(k8s.ERROR, () => {
    if (stopped) return;
    restart = setTimeout(function retry() {
      if (!stopped) informer.start().catch(() => (restart = setTimeout(retry, 1000)));
    }, 1000);
  });
  await informer.start();

  const server = createServer((req, res) => {
    if (new URL(req.url ?? '/', 'http://sd').pathname !== '/targets') {
      res.statusCode = 404;
      res.end('not found: pod discovery serves /targets\n');
      return;
    }
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify(informer.list().flatMap(podTargetGroups)));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/targets`,
    stop: async () => {
      stopped = true;
      clearTimeout(restart);
      await informer.stop();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
