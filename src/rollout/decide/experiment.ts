import type * as k8s from '@kubernetes/client-node';
import { parseDuration } from '../../api/duration.js';
import { LABEL_EXPERIMENT_TEMPLATE, LABEL_POD_TEMPLATE_HASH, LABEL_ROLE, LABEL_ROLLOUT, ownedObjectName, rolloutLabelValue, within63 } from '../../api/labels.js';
import { API_VERSION, type ExperimentStep, type ExperimentTemplate, type PodTemplate, type Rollout } from '../../api/rollout.js';
import { toTimestamp } from '../../api/time.js';
import { withoutKeys } from './baseline.js';
import type { RoleServiceFacts, ReplicaSetFacts } from './facts.js';
import type { ExperimentClock, RolloutContext } from './machine.js';
import type { ReplicaSetChange } from './replica-set-changes.js';
import type { WeightedDestination } from '../../traffic/types.js';
import { experimentPodTemplateHash } from './revision.js';

/** The value of LABEL_ROLE on an experiment's ReplicaSets, pods and Services. */
export const EXPERIMENT_ROLE = 'experiment';

/** One template of the experiment as it runs: the names and hash it gets. */
export interface ExperimentInstance {
  template: ExperimentTemplate;
  replicaSet: string;
  podTemplateHash: string;
  replicas: number;
  /** Its Service, when it has one (a service or a weight asks for it). */
  service: string | undefined;
}

/** The experiment step the canary is at. */
export interface ExperimentAt {
  /** `<revision>-<attempt>-s<step>`: its ReplicaSets and runs are named by it, so a retry or a new revision starts afresh. */
  id: string;
  stepIndex: number;
  step: ExperimentStep;
  clock: ExperimentClock;
  instances: ExperimentInstance[];
}

type Position = Pick<RolloutContext, 'steps' | 'stepIndex' | 'currentRevision' | 'attempt' | 'experiment'>;

/** The experiment the machine's context is at, once it started; undefined anywhere else. */
export function experimentAt(rollout: string, context: Position): ExperimentAt | undefined {
  const step = context.steps[context.stepIndex];
  const clock = context.experiment;
  if (step === undefined || !('experiment' in step) || clock === undefined || context.currentRevision === undefined) return undefined;
  const id = `${context.currentRevision}-${context.attempt}-s${context.stepIndex}`;
  const instances = step.experiment.templates.map((template): ExperimentInstance => {
    const replicaSet = ownedObjectName(rollout, `${id}-${template.name}`);
    const hasService = template.service !== undefined || template.weight !== undefined;
    return {
      template,
      replicaSet,
      podTemplateHash: experimentPodTemplateHash(rollout, id, template.name),
      replicas: template.replicas ?? 1,
      // A Service name is a DNS label: at most 63 characters.
      service: hasService ? (template.service?.name ?? within63(replicaSet)) : undefined,
    };
  });
  return { id, stepIndex: context.stepIndex, step: step.experiment, clock, instances };
}

/** The template's ReplicaSet exists at its size with every pod available. */
function instanceAvailable(instance: ExperimentInstance, replicaSets: readonly ReplicaSetFacts[]): boolean {
  const rs = replicaSets.find((candidate) => candidate.name === instance.replicaSet);
  return rs !== undefined && rs.replicas === instance.replicas && rs.availableReplicas >= instance.replicas;
}

export function experimentAvailable(at: ExperimentAt, replicaSets: readonly ReplicaSetFacts[]): boolean {
  return at.instances.every((instance) => instanceAvailable(instance, replicaSets));
}

/** When its duration ends (epoch ms): undefined without a duration, or before every pod is available. */
export function experimentEndsAt(at: ExperimentAt): number | undefined {
  const { duration } = at.step;
  return duration === undefined || at.clock.availableAt === undefined ? undefined : at.clock.availableAt + parseDuration(duration);
}

/**
 * Whether the experiment is done, as Argo's is: every requiredForCompletion analysis succeeded (whatever the
 * duration says), or the duration passed and none is required. Says why, or undefined while it runs on.
 */
export function experimentCompletion(at: ExperimentAt, succeeded: (analysis: string) => boolean, now: number): string | undefined {
  const required = (at.step.analyses ?? []).filter((analysis) => analysis.requiredForCompletion === true).map((analysis) => analysis.name);
  if (required.length > 0) return required.every(succeeded) ? `its required analyses (${required.join(', ')}) succeeded` : undefined;
  const endsAt = experimentEndsAt(at);
  return endsAt !== undefined && now >= endsAt ? `its duration (${at.step.duration}) passed` : undefined;
}

/** The values an experiment analysis's argument may name, as Argo names them. */
export function experimentArgValues(at: ExperimentAt): Record<string, string> {
  const values: Record<string, string> = {};
  for (const instance of at.instances) {
    values[`templates.${instance.template.name}.podTemplateHash`] = instance.podTemplateHash;
    values[`templates.${instance.template.name}.replicaset.name`] = instance.replicaSet;
  }
  if (at.clock.availableAt !== undefined) values['experiment.availableAt'] = rfc3339Seconds(at.clock.availableAt);
  const endsAt = experimentEndsAt(at);
  if (endsAt !== undefined) values['experiment.finishedAt'] = rfc3339Seconds(endsAt);
  return values;
}

/** Go's time.RFC3339, as Argo formats these values: whole seconds. */
const rfc3339Seconds = (epochMs: number): string => new Date(epochMs).toISOString().replace(/\.\d{3}Z$/, 'Z');

/**
 * The experiment's weighted Services for the router: once it runs (every pod was available), each template with a
 * weight whose pods are all available still, as Argo weights an experiment only while it is Running.
 */
export function experimentDestinations(at: ExperimentAt, input: Omit<ExperimentInput, 'at' | 'services' | 'serving'>): WeightedDestination[] {
  if (at.clock.availableAt === undefined) return [];
  return at.instances.flatMap((instance) => {
    const { weight } = instance.template;
    const source = sourceTemplate(input, instance.template);
    const port = source === undefined ? undefined : portsOf(source)[0]?.port;
    // A template of no pods has nothing to serve its share: it is left with the stable.
    if (weight === undefined || instance.service === undefined || port === undefined || instance.replicas === 0 || !instanceAvailable(instance, input.replicaSets)) return [];
    return [{ serviceName: instance.service, podTemplateHash: instance.podTemplateHash, weight, port }];
  });
}

/** What the shell does to the experiment's ReplicaSets and Services this reconcile. */
export interface ExperimentPlan {
  changes: ReplicaSetChange[];
  delete: string[];
  services: { create: k8s.V1Service[]; delete: string[] };
}

export interface ExperimentInput {
  rollout: Rollout;
  /** The experiment to run now: undefined once the canary left its step, holds there, or is aborted. */
  at: ExperimentAt | undefined;
  /** The pod template the canary runs (facts.template). */
  canaryTemplate: PodTemplate;
  /** The stable revision's ReplicaSet: its template is what `specRef: stable` runs. */
  stable: ReplicaSetFacts | undefined;
  replicaSets: readonly ReplicaSetFacts[];
  services: readonly RoleServiceFacts[];
  /** Experiment Services the router still reports traffic on: they and their pods stay until it reports none. */
  serving: readonly string[];
}

/**
 * The experiment's ReplicaSets (and Services) while the canary is at its step, each created at its size; any other
 * of them removed, unless a router still sends it traffic. Pure.
 */
export function planExperiment(input: ExperimentInput): ExperimentPlan {
  const wanted = (input.at?.instances ?? []).flatMap((instance) => {
    const source = sourceTemplate(input, instance.template);
    return source === undefined ? [] : [{ instance, source }];
  });
  const servingHashes = new Set(input.services.filter((service) => input.serving.includes(service.name)).map((service) => service.revision));
  const changes: ReplicaSetChange[] = [];
  for (const { instance, source } of wanted) {
    const existing = input.replicaSets.find((rs) => rs.name === instance.replicaSet);
    if (existing === undefined) changes.push({ kind: 'create', revision: instance.podTemplateHash, role: undefined, replicaSet: experimentReplicaSet(input.rollout, instance, source) });
    else if (existing.replicas !== instance.replicas) changes.push({ kind: 'update', name: existing.name, revision: instance.podTemplateHash, role: undefined, patch: { spec: { replicas: instance.replicas } } });
  }
  const isWanted = (name: string): boolean => wanted.some(({ instance }) => instance.replicaSet === name);
  // A Service is ours to keep only while it selects the instance it was made for (a later experiment may reuse a name).
  const serviceWanted = (service: RoleServiceFacts): boolean =>
    wanted.some(({ instance }) => instance.service === service.name && instance.podTemplateHash === service.revision);
  const create = wanted.flatMap(({ instance, source }) => {
    if (instance.service === undefined || input.services.some((service) => service.name === instance.service)) return [];
    const service = experimentService(input.rollout, instance, source);
    return service === undefined ? [] : [service];
  });
  return {
    changes,
    delete: input.replicaSets.filter((rs) => !isWanted(rs.name) && !servingHashes.has(rs.revision)).map((rs) => rs.name),
    services: { create, delete: input.services.filter((service) => !serviceWanted(service) && !input.serving.includes(service.name)).map((service) => service.name) },
  };
}

type SourceTemplate = { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec?: unknown };

/** The pod template a template's specRef names: the canary's as a new ReplicaSet runs it, the stable's without stableMetadata. */
function sourceTemplate(input: Pick<ExperimentInput, 'canaryTemplate' | 'stable' | 'rollout'>, template: ExperimentTemplate): SourceTemplate | undefined {
  if (template.specRef === 'canary') return input.canaryTemplate;
  const stable = input.stable?.template;
  if (stable === undefined) return undefined;
  const roleMetadata = input.rollout.spec.strategy.canary.stableMetadata;
  return {
    ...stable,
    metadata: { ...(stable.metadata ?? {}), labels: withoutKeys(stable.metadata?.labels, roleMetadata?.labels), annotations: withoutKeys(stable.metadata?.annotations, roleMetadata?.annotations) },
  };
}

function owner(rollout: Rollout): k8s.V1OwnerReference {
  return { apiVersion: API_VERSION, kind: 'Rollout', name: rollout.metadata.name ?? '', uid: rollout.metadata.uid ?? '', controller: true, blockOwnerDeletion: true };
}

/** The labels that tell an experiment's pods apart: its own hash, the experiment role and the template's name. */
function instanceLabels(instance: ExperimentInstance): Record<string, string> {
  return { [LABEL_POD_TEMPLATE_HASH]: instance.podTemplateHash, [LABEL_ROLE]: EXPERIMENT_ROLE, [LABEL_EXPERIMENT_TEMPLATE]: instance.template.name };
}

/** Argo's: the template's selector or the Rollout's, with the template's labels and the instance's hash added. */
function selectorOf(rollout: Rollout, instance: ExperimentInstance): k8s.V1LabelSelector {
  const selector = instance.template.selector ?? rollout.spec.selector;
  return {
    matchLabels: { ...(selector.matchLabels ?? {}), ...(instance.template.metadata?.labels ?? {}), [LABEL_POD_TEMPLATE_HASH]: instance.podTemplateHash },
    ...(selector.matchExpressions ? { matchExpressions: selector.matchExpressions } : {}),
  };
}

function experimentReplicaSet(rollout: Rollout, instance: ExperimentInstance, source: SourceTemplate): k8s.V1ReplicaSet {
  const name = rollout.metadata.name ?? '';
  const extra = instance.template.metadata;
  const labels = { ...(source.metadata?.labels ?? {}), ...(extra?.labels ?? {}), ...instanceLabels(instance) };
  const annotations = { ...(source.metadata?.annotations ?? {}), ...(extra?.annotations ?? {}) };
  const metadata = { ...(source.metadata ?? {}), labels, annotations };
  if (Object.keys(annotations).length === 0) delete (metadata as { annotations?: unknown }).annotations;
  return {
    metadata: {
      name: instance.replicaSet,
      namespace: rollout.metadata.namespace ?? 'default',
      labels: { ...labels, [LABEL_ROLLOUT]: rolloutLabelValue(name) },
      ownerReferences: [owner(rollout)],
    },
    spec: {
      replicas: instance.replicas,
      minReadySeconds: rollout.spec.minReadySeconds ?? 0,
      selector: selectorOf(rollout, instance),
      template: { ...source, metadata } as k8s.V1PodTemplateSpec,
    },
  };
}

/** Argo's Service ports: one for each container port. */
function portsOf(source: SourceTemplate): k8s.V1ServicePort[] {
  const containers = ((source.spec as k8s.V1PodSpec | undefined)?.containers ?? []) as k8s.V1Container[];
  return containers.flatMap((container) =>
    (container.ports ?? []).map((port): k8s.V1ServicePort => ({
      ...(port.name !== undefined && { name: port.name }),
      ...(port.protocol !== undefined && { protocol: port.protocol }),
      port: port.containerPort,
      targetPort: port.containerPort as unknown as k8s.IntOrString,
    })),
  );
}

/** Argo's: selecting the instance's pods on every container port; none when no container has a port. */
function experimentService(rollout: Rollout, instance: ExperimentInstance, source: SourceTemplate): k8s.V1Service | undefined {
  const ports = portsOf(source);
  if (ports.length === 0 || instance.service === undefined) return undefined;
  return {
    metadata: {
      name: instance.service,
      namespace: rollout.metadata.namespace ?? 'default',
      labels: { [LABEL_ROLLOUT]: rolloutLabelValue(rollout.metadata.name ?? ''), ...instanceLabels(instance) },
      ownerReferences: [owner(rollout)],
    },
    spec: { selector: selectorOf(rollout, instance).matchLabels ?? {}, ports },
  };
}

/** The experiment's state as a person reads it in the Rollout's message. */
export function describeExperiment(at: ExperimentAt, replicaSets: readonly ReplicaSetFacts[], now: number): string {
  if (at.clock.availableAt === undefined) {
    const ready = at.instances.filter((instance) => instanceAvailable(instance, replicaSets)).length;
    return `starting its ReplicaSets: ${ready}/${at.instances.length} with every pod available`;
  }
  const required = (at.step.analyses ?? []).filter((analysis) => analysis.requiredForCompletion === true);
  const endsAt = experimentEndsAt(at);
  if (required.length > 0) return `running until its required analyses (${required.map((analysis) => analysis.name).join(', ')}) succeed`;
  if (endsAt !== undefined) return endsAt > now ? `running until ${toTimestamp(endsAt)}` : 'its duration has passed';
  return 'running until promoted (it has neither a duration nor a required analysis)';
}
