import type * as k8s from '@kubernetes/client-node';
import { API_VERSION, type Rollout } from '../../api/rollout.js';
import { LABEL_POD_TEMPLATE_HASH, LABEL_ROLE, LABEL_ROLLOUT, ownedObjectName, rolloutLabelValue, within63 } from '../../api/labels.js';
import type { WeightedDestination } from '../../traffic/types.js';
import type { ReplicaSetFacts, RoleServiceFacts } from './facts.js';
import type { ReplicaSetChange } from './replica-set-changes.js';
import type { ReplicaMode } from './replicas.js';

/** The value of LABEL_ROLE on a baseline's ReplicaSet, pods and Service. */
export const BASELINE_ROLE = 'baseline';

/** The baseline's pod-template-hash: its stable revision's, marked, so no Service of the Rollout selects its pods. */
export const baselineRevision = (stableRevision: string): string => `${stableRevision}-${BASELINE_ROLE}`;

/** The baseline's Service: the name its spec gives, or `<rollout>-baseline`. */
export function baselineServiceName(rollout: Rollout): string {
  return rollout.spec.strategy.canary.baseline?.service?.name ?? within63(`${rollout.metadata.name ?? ''}-${BASELINE_ROLE}`);
}

export interface BaselinePlan {
  /** A new baseline ReplicaSet, or a new size for the one there is. */
  changes: ReplicaSetChange[];
  /** Baselines no longer wanted: the canary was promoted or aborted, or the stable revision changed. */
  delete: string[];
  /** Its Service, made with it behind a router (or when its spec asks for one); any other of ours removed. */
  services: { create: k8s.V1Service[]; delete: string[] };
}

export interface BaselineInput {
  rollout: Rollout;
  mode: ReplicaMode;
  /** The stable revision's ReplicaSet: its template is what the baseline runs. */
  stable: ReplicaSetFacts | undefined;
  /** The canary's planned size this reconcile: the baseline grows and shrinks with it, so both are the same age. */
  canaryReplicas: number;
  baselines: readonly ReplicaSetFacts[];
  routed: boolean;
  services: readonly RoleServiceFacts[];
  /** The stable Service's ports: the baseline's Service takes the same, so a route reaches it as it reaches the stable. */
  stablePorts: readonly k8s.V1ServicePort[];
  /** Services the routers still report traffic on: a baseline Service there keeps itself and its pods until they let go. */
  serving: readonly string[];
}

/**
 * The baseline beside a canary in progress (spec.strategy.canary.baseline): as many pods as the canary's ReplicaSet
 * is given this reconcile, from the stable template. Without a canary (stable, promoted, aborted) there is none,
 * except that what a router still sends traffic to keeps its pods until the router reports none. Pure.
 */
export function planBaseline(input: BaselineInput): BaselinePlan {
  const { rollout, mode, stable } = input;
  const wanted = rollout.spec.strategy.canary.baseline !== undefined && mode.kind === 'canary' && stable?.template !== undefined ? mode : undefined;
  const revision = wanted === undefined ? undefined : baselineRevision(wanted.stableRevision);
  const name = revision !== undefined ? ownedObjectName(rollout.metadata.name ?? '', revision) : undefined;
  const served = new Set(input.services.filter((service) => input.serving.includes(service.name)).map((service) => service.revision));
  const remove = input.baselines.filter((rs) => rs.name !== name && !served.has(rs.revision)).map((rs) => rs.name);
  const services = baselineServices(input, revision);
  if (revision === undefined || stable === undefined) return { changes: [], delete: remove, services };
  const existing = input.baselines.find((rs) => rs.name === name);
  if (existing === undefined) return { changes: [{ kind: 'create', revision, role: undefined, replicaSet: baselineReplicaSet(rollout, stable, input.canaryReplicas) }], delete: remove, services };
  // A canary of a new template starts smaller: pods the router still sends traffic to stay until it lets go of them.
  const replicas = served.has(existing.revision) ? Math.max(existing.replicas, input.canaryReplicas) : input.canaryReplicas;
  const resize: ReplicaSetChange[] = existing.replicas === replicas ? [] : [{ kind: 'update', name: existing.name, revision, role: undefined, patch: { spec: { replicas } } }];
  return { changes: resize, delete: remove, services };
}

function baselineServices(input: BaselineInput, revision: string | undefined): BaselinePlan['services'] {
  const { rollout } = input;
  const name = baselineServiceName(rollout);
  const wanted = revision !== undefined && (input.routed || rollout.spec.strategy.canary.baseline?.service !== undefined) ? revision : undefined;
  // Ours to keep only while it selects this baseline (a new stable revision has a new one), or a router still routes to it.
  const keep = (service: RoleServiceFacts): boolean => (service.name === name && service.revision === wanted) || input.serving.includes(service.name);
  const absent = !input.services.some((service) => service.name === name);
  const create = wanted !== undefined && absent && input.stablePorts.length > 0 ? [baselineService(rollout, name, wanted, input.stablePorts)] : [];
  return { create, delete: input.services.filter((service) => !keep(service)).map((service) => service.name) };
}

/** Selects the baseline's pods alone: the Rollout's labels, its own pod-template hash and role. */
function baselineService(rollout: Rollout, name: string, revision: string, ports: readonly k8s.V1ServicePort[]): k8s.V1Service {
  const rolloutName = rollout.metadata.name ?? '';
  return {
    metadata: {
      name,
      namespace: rollout.metadata.namespace ?? 'default',
      labels: { [LABEL_ROLLOUT]: rolloutLabelValue(rolloutName), [LABEL_POD_TEMPLATE_HASH]: revision, [LABEL_ROLE]: BASELINE_ROLE },
      ownerReferences: [{ apiVersion: API_VERSION, kind: 'Rollout', name: rolloutName, uid: rollout.metadata.uid ?? '', controller: true, blockOwnerDeletion: true }],
    },
    spec: {
      selector: { ...(rollout.spec.selector.matchLabels ?? {}), [LABEL_POD_TEMPLATE_HASH]: revision, [LABEL_ROLE]: BASELINE_ROLE },
      // A ClusterIP Service: the stable's node ports are its own.
      ports: ports.map(({ name: portName, protocol, port, targetPort, appProtocol }) => ({
        ...(portName !== undefined && { name: portName }),
        ...(protocol !== undefined && { protocol }),
        ...(appProtocol !== undefined && { appProtocol }),
        port,
        ...(targetPort !== undefined && { targetPort }),
      })),
    },
  };
}

/** What the router's share for the baseline depends on. */
export interface BaselineTraffic {
  rollout: Rollout;
  stableRevision: string | undefined;
  /** The canary's pods at its step (undefined outside a canary step): the baseline has as many. */
  canaryPods: number | undefined;
  baselines: readonly ReplicaSetFacts[];
  services: readonly RoleServiceFacts[];
  stablePorts: readonly k8s.V1ServicePort[];
}

/** The baseline a router can send traffic to: its Service selects it and every pod its step wants is available. */
function routableBaseline(input: BaselineTraffic): Omit<WeightedDestination, 'weight'> | undefined {
  const port = input.stablePorts[0]?.port;
  if (input.rollout.spec.strategy.canary.baseline === undefined || input.stableRevision === undefined || input.canaryPods === undefined || port === undefined) return undefined;
  const revision = baselineRevision(input.stableRevision);
  const serviceName = baselineServiceName(input.rollout);
  const rs = input.baselines.find((candidate) => candidate.revision === revision);
  const available = rs !== undefined && rs.replicas > 0 && rs.replicas >= input.canaryPods && rs.availableReplicas >= rs.replicas;
  const selected = input.services.some((service) => service.name === serviceName && service.revision === revision);
  return available && selected ? { serviceName, podTemplateHash: revision, port } : undefined;
}

/**
 * Whether the canary may take its step's weight as far as the baseline goes: the two take it together, so the judge
 * compares them under the same share. A baseline with no Service to route to (no stable Service ports) holds nothing up.
 */
export function baselineReady(input: BaselineTraffic | undefined): boolean {
  if (input === undefined || input.rollout.spec.strategy.canary.baseline === undefined || input.stablePorts.length === 0 || input.canaryPods === 0) return true;
  return routableBaseline(input) !== undefined;
}

/**
 * The baseline's share behind a router: the canary's weight, taken from the stable's; past 50% (or beside an
 * experiment's weights), what the canary and `taken` leave. None while the canary has none, or any of its pods is not
 * available. Pure.
 */
export function baselineDestinations(input: BaselineTraffic | undefined, canaryWeight: number, taken: readonly WeightedDestination[]): WeightedDestination[] {
  const routable = input === undefined ? undefined : routableBaseline(input);
  const left = 100 - canaryWeight - taken.reduce((sum, destination) => sum + destination.weight, 0);
  const weight = Math.min(canaryWeight, left);
  return routable === undefined || weight <= 0 ? [] : [{ ...routable, weight }];
}

/** Keys stableMetadata put on the stable pods: a baseline (or an experiment of the stable) is not the stable, so they are left off. */
export function withoutKeys(map: Record<string, string> | undefined, keys: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(map ?? {}).filter(([key]) => !(key in (keys ?? {}))));
}

function baselineReplicaSet(rollout: Rollout, stable: ReplicaSetFacts, replicas: number): k8s.V1ReplicaSet {
  const name = rollout.metadata.name ?? '';
  const revision = baselineRevision(stable.revision);
  const canary = rollout.spec.strategy.canary;
  const template = stable.template ?? {};
  const extra = canary.baseline?.metadata;
  const labels = { ...withoutKeys(template.metadata?.labels, canary.stableMetadata?.labels), ...(extra?.labels ?? {}), [LABEL_POD_TEMPLATE_HASH]: revision, [LABEL_ROLE]: BASELINE_ROLE };
  const annotations = { ...withoutKeys(template.metadata?.annotations, canary.stableMetadata?.annotations), ...(extra?.annotations ?? {}) };
  return {
    metadata: {
      name: ownedObjectName(name, revision),
      namespace: rollout.metadata.namespace ?? 'default',
      labels: { ...(rollout.spec.template.metadata?.labels ?? {}), [LABEL_POD_TEMPLATE_HASH]: revision, [LABEL_ROLLOUT]: rolloutLabelValue(name), [LABEL_ROLE]: BASELINE_ROLE },
      ownerReferences: [{ apiVersion: API_VERSION, kind: 'Rollout', name, uid: rollout.metadata.uid ?? '', controller: true, blockOwnerDeletion: true }],
    },
    spec: {
      replicas,
      minReadySeconds: rollout.spec.minReadySeconds ?? 0,
      selector: {
        matchLabels: { ...(rollout.spec.selector.matchLabels ?? {}), [LABEL_POD_TEMPLATE_HASH]: revision },
        ...(rollout.spec.selector.matchExpressions ? { matchExpressions: rollout.spec.selector.matchExpressions } : {}),
      },
      template: { ...template, metadata: { ...(template.metadata ?? {}), labels, ...(Object.keys(annotations).length > 0 && { annotations }) } },
    },
  };
}
