// The harness's data plane: the CRDs of the traffic routers Fledge drives, Traefik's configuration, the shared
// Gateway, and the pod IP range made local so that simulated pods answer on their own IPs.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { downloadGoModule } from './build.js';
import { EMISSARY_VERSION, ISTIO_API_VERSION, TRAEFIK_VERSION, ports } from './config.js';
import { HarnessError } from './errors.js';

/**
 * The Gateway every test's HTTPRoute attaches to; Traefik serves it on ports.gateway. Its listener takes any
 * host, so routes of different tests stay apart by each having hostnames of its own.
 */
export const GATEWAY = { className: 'traefik', namespace: 'fledge-gateway', name: 'fledge-gateway', listener: 'web' } as const;

/** Istio's file holds every Istio CRD; the routers use only these. */
const ISTIO_GROUPS = new Set(['networking.istio.io']);
/** Emissary's file holds every getambassador.io CRD; the Ambassador router uses only Mappings. */
const EMISSARY_CRDS = new Set(['mappings.getambassador.io']);

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  spec?: { group?: string; [field: string]: unknown };
}

/** The version of `module` a go.mod requires, or undefined when it requires none. */
export function requiredVersion(goMod: string, module: string): string | undefined {
  const escaped = module.replaceAll('.', '\\.');
  return new RegExp(`^\\s*(?:require\\s+)?${escaped}\\s+(v\\S+)`, 'm').exec(goMod)?.[1];
}

/** The CustomResourceDefinitions in a multi-document YAML file, optionally only those of some API groups. */
export function crdsIn(text: string, groups?: ReadonlySet<string>): Manifest[] {
  return (yaml.loadAll(text) as Array<Manifest | null>).filter(
    (doc): doc is Manifest => doc?.kind === 'CustomResourceDefinition' && (groups === undefined || groups.has(doc.spec?.group ?? '')),
  );
}

/**
 * A CRD whose versions convert through a webhook of their own (Emissary's apiext), which the harness does not run:
 * the tests write and read one version, so the apiserver only relabels the others.
 */
export function withoutConversionWebhook(crd: Manifest): Manifest {
  return { ...crd, spec: { ...crd.spec, conversion: { strategy: 'None' } } };
}

/**
 * The CRDs `up` installs, read from the Go modules that ship them: Gateway API's standard channel at the version
 * Traefik is built against (v1.4 has HTTPRoute RequestMirror with percent and fraction there), Traefik's own
 * (traefik.io: TraefikService, IngressRoute, Middleware...), Istio's networking.istio.io, and Emissary's Mapping.
 */
export async function routerCrds(): Promise<Manifest[]> {
  const traefik = await downloadGoModule('github.com/traefik/traefik/v3', TRAEFIK_VERSION);
  const gatewayApiVersion = requiredVersion(readFileSync(join(traefik, 'go.mod'), 'utf8'), 'sigs.k8s.io/gateway-api');
  if (gatewayApiVersion === undefined) throw new HarnessError(`Traefik ${TRAEFIK_VERSION}'s go.mod requires no sigs.k8s.io/gateway-api`);
  const gatewayApi = join(await downloadGoModule('sigs.k8s.io/gateway-api', gatewayApiVersion), 'config', 'crd', 'standard');
  const istio = await downloadGoModule('istio.io/api', ISTIO_API_VERSION);
  const emissary = await downloadGoModule('github.com/emissary-ingress/emissary/v3', EMISSARY_VERSION);
  const mappings = crdsIn(readFileSync(join(emissary, 'manifests', 'emissary', 'emissary-crds.yaml.in'), 'utf8')).filter((crd) => EMISSARY_CRDS.has(crd.metadata.name));
  if (mappings.length !== EMISSARY_CRDS.size) throw new HarnessError(`Emissary ${EMISSARY_VERSION} has no ${[...EMISSARY_CRDS].join(', ')} CRD`);
  const files: Array<{ path: string; groups?: ReadonlySet<string> }> = [
    ...readdirSync(gatewayApi)
      .filter((file) => file.startsWith('gateway.networking.k8s.io_'))
      .map((file) => ({ path: join(gatewayApi, file) })),
    { path: join(traefik, 'docs', 'content', 'reference', 'dynamic-configuration', 'kubernetes-crd-definition-v1.yml') },
    { path: join(istio, 'kubernetes', 'customresourcedefinitions.gen.yaml'), groups: ISTIO_GROUPS },
  ];
  const crds = files.flatMap(({ path, groups }) => {
    const found = crdsIn(readFileSync(path, 'utf8'), groups);
    if (found.length === 0) throw new HarnessError(`${path} holds no CustomResourceDefinition`);
    return found;
  });
  return [...crds, ...mappings.map(withoutConversionWebhook)];
}

/** The GatewayClass Traefik controls, and the Gateway whose HTTP listener is Traefik's `web` entrypoint. */
export function gatewayManifests(): Manifest[] {
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: GATEWAY.namespace } },
    {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'GatewayClass',
      metadata: { name: GATEWAY.className },
      spec: { controllerName: 'traefik.io/gateway-controller' },
    },
    {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'Gateway',
      metadata: { name: GATEWAY.name, namespace: GATEWAY.namespace },
      spec: {
        gatewayClassName: GATEWAY.className,
        // Traefik serves a listener on the entrypoint whose address has the listener's port.
        listeners: [{ name: GATEWAY.listener, protocol: 'HTTP', port: ports.gateway, allowedRoutes: { namespaces: { from: 'All' } } }],
      },
    },
  ];
}

/** Traefik's static configuration: `web` for requests, `traefik` for /ping and /metrics, both Kubernetes providers. */
export function traefikConfig(kube: { apiserverUrl: string; caFile: string; tokenFile: string }): string {
  const provider = { endpoint: kube.apiserverUrl, token: kube.tokenFile, certAuthFilePath: kube.caFile };
  // Stopping is part of every cluster:down; the default 10 s grace period would only make it wait.
  const transport = { lifeCycle: { requestAcceptGraceTimeout: '0s', graceTimeOut: '1s' } };
  return yaml.dump({
    global: { checkNewVersion: false, sendAnonymousUsage: false },
    log: { level: 'INFO', noColor: true },
    entryPoints: {
      web: { address: `127.0.0.1:${ports.gateway}`, transport },
      traefik: { address: `127.0.0.1:${ports.traefik}`, transport },
    },
    ping: { entryPoint: 'traefik' },
    metrics: { prometheus: { entryPoint: 'traefik', addServicesLabels: true, addRoutersLabels: true, addEntryPointsLabels: true } },
    providers: { kubernetesGateway: provider, kubernetesCRD: provider },
  });
}

function ip(args: string[]): { ok: boolean; stdout: string; stderr: string } {
  // A non-root PATH on Debian has no sbin directories, where iproute2 puts `ip`.
  for (const command of ['ip', '/usr/sbin/ip', '/sbin/ip']) {
    const run = spawnSync(command, args, { encoding: 'utf8' });
    if (!run.error) return { ok: run.status === 0, stdout: run.stdout, stderr: run.stderr.trim() };
  }
  throw new HarnessError('the `ip` command is needed to make the pod IP range local: apt-get install iproute2');
}

/** Makes every address of `cidr` local (on lo), so servers can bind to pod IPs. Idempotent, and needs no root when done already. */
export function addPodCidr(cidr: string): void {
  const shown = ip(['-o', '-4', 'addr', 'show', 'dev', 'lo']);
  if (shown.ok && shown.stdout.includes(` inet ${cidr} `)) return;
  const added = ip(['addr', 'add', cidr, 'dev', 'lo']);
  if (added.ok || /File exists/.test(added.stderr)) return;
  throw new HarnessError(
    `could not make the pod IP range ${cidr} local (ip addr add ${cidr} dev lo: ${added.stderr}). ` +
      `Run once as root: sudo ip addr add ${cidr} dev lo (it lasts until reboot), or choose another range with FLEDGE_CLUSTER_POD_CIDR`,
  );
}

/** Undoes addPodCidr; returns why not when it could not (an address a person added with sudo stays). */
export function removePodCidr(cidr: string): string | undefined {
  const removed = ip(['addr', 'del', cidr, 'dev', 'lo']);
  if (removed.ok || /Cannot assign requested address/.test(removed.stderr)) return undefined;
  return removed.stderr;
}

/** An app's stable and canary Services behind the harness Gateway: port `http` 80 to the pods' 8080. */
export function gatewayServices(app: string): object[] {
  return ['stable', 'canary'].map((role) => ({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: `${app}-${role}` },
    spec: { selector: { app }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
  }));
}

/** The app's HTTPRoute on the harness Gateway for `host`, every request on the stable Service until Fledge moves them. */
export function gatewayRoute(app: string, host: string): object {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: app },
    spec: {
      parentRefs: [{ name: GATEWAY.name, namespace: GATEWAY.namespace, sectionName: GATEWAY.listener }],
      hostnames: [host],
      rules: [{ backendRefs: [{ name: `${app}-stable`, port: 80, weight: 100 }, { name: `${app}-canary`, port: 80, weight: 0 }] }],
    },
  };
}

/** A canary Rollout of the app whose traffic Fledge splits on that HTTPRoute; `canary` adds to its canary strategy. */
export function gatewayRollout(app: string, image: string, replicas: number, canary: Record<string, unknown>): object {
  return {
    apiVersion: 'fledge.dev/v1alpha1',
    kind: 'Rollout',
    metadata: { name: app },
    spec: {
      replicas,
      selector: { matchLabels: { app } },
      template: { metadata: { labels: { app } }, spec: { containers: [{ name: app, image, ports: [{ containerPort: 8080 }] }] } },
      strategy: {
        canary: { stableService: `${app}-stable`, canaryService: `${app}-canary`, trafficRouting: { gatewayAPI: { httpRoute: app } }, ...canary },
      },
    },
  };
}
