import type * as k8s from '@kubernetes/client-node';
import { AnalysisTemplateSpec } from '../api/analysis.js';
import { Rollout } from '../api/rollout.js';
import type { RouterOwner, RouterSet } from '../traffic/router-set.js';
import { templateRef } from './decide/analysis-runs.js';
import type { ResolvedConfig } from './config/tracking.js';
import type { OwnedRun, RolloutReconcilerDeps } from './deps.js';
import type { ReplicaSetFacts, RolloutFacts, ServiceSelects } from './decide/facts.js';
import { ANNOTATION_REVISION, ANNOTATION_SCALE_DOWN_AT, LABEL_ANALYSIS_KIND, LABEL_POD_TEMPLATE_HASH, LABEL_ROLE, LABEL_ROLLOUT } from '../api/labels.js';
import { BASELINE_ROLE } from './decide/baseline.js';
import { EXPERIMENT_ROLE } from './decide/experiment.js';
import type { RolloutRef } from './ref.js';
import { pendingRestart, type PodFacts } from './decide/restart.js';
import { podTemplateHash } from './decide/revision.js';
import { withWorkloadTemplate } from './decide/workload-ref.js';
import { recordedStableSide, routerServices } from './decide/services.js';

type ObserveDeps = Pick<
  RolloutReconcilerDeps,
  'replicaSets' | 'analysisRuns' | 'analysisTemplates' | 'clusterAnalysisTemplates' | 'services' | 'deployments' | 'configCopies' | 'core' | 'webhooks' | 'now'
>;

/** Reads what decide() needs: the caches, the router's routes, and pods only while a restart is due. */
export class RolloutObserver {
  constructor(private readonly deps: ObserveDeps) {}

  ownedReplicaSets(ref: RolloutRef): ReadonlyArray<k8s.V1ReplicaSet> {
    return ref.uid === undefined ? [] : this.deps.replicaSets.listOwnedBy(ref.uid);
  }

  ownedAnalysisRuns(ref: RolloutRef): OwnedRun[] {
    return ref.uid === undefined ? [] : (this.deps.analysisRuns.listOwnedBy(ref.uid) as OwnedRun[]);
  }

  /**
   * The Rollout as decide() reads it (its workloadRef's template filled in, parsed) and the template with its config
   * copies; or why it cannot be used as it is, as the InvalidSpec condition's reason and message.
   */
  async input(ref: RolloutRef, raw: k8s.KubernetesObject): Promise<{ rollout: Rollout; config: ResolvedConfig } | { problem: string; reason: 'InvalidSpec' | 'ConfigSourceMissing' }> {
    const resolved = withWorkloadTemplate(raw, (deployment) => this.deps.deployments?.get(deployment, ref.namespace));
    if ('problem' in resolved) return { problem: resolved.problem, reason: 'InvalidSpec' };
    const parsed = Rollout.safeParse(resolved.rollout);
    if (!parsed.success) return { problem: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '), reason: 'InvalidSpec' };
    const rollout = parsed.data;
    const owned = this.ownedReplicaSets(ref).map((rs) => rs.spec?.template ?? {});
    const config = (await this.deps.configCopies?.resolve(rollout, owned)) ?? { template: rollout.spec.template, copies: [], missing: [] };
    if (config.missing.length > 0) {
      // No ReplicaSet can start from a template whose config does not exist: hold, and say what is missing.
      const problem = `${config.missing.join(', ')} not found: the pod template reads it; no new ReplicaSet is created until it exists (the running pods keep their copies)`;
      return { problem, reason: 'ConfigSourceMissing' };
    }
    return { rollout, config };
  }

  async observe(ref: RolloutRef, rollout: Rollout, config: ResolvedConfig, routers: RouterSet | undefined): Promise<RolloutFacts> {
    const now = this.deps.now();
    const owned = this.ownedReplicaSets(ref);
    const canary = rollout.spec.strategy.canary;
    const restartDue = pendingRestart(rollout.spec.restartAt, rollout.status?.restartedAt);
    const facts: RolloutFacts = {
      now,
      rollout,
      template: config.template,
      // The template with its config copies: new content is a new revision, the same content the same one.
      currentRevision: podTemplateHash(config.template),
      // A baseline's and an experiment's pods are no revision of the Rollout: kept apart, each with its own planner.
      replicaSets: owned.filter((rs) => roleOf(rs) !== BASELINE_ROLE && roleOf(rs) !== EXPERIMENT_ROLE).map(replicaSetFacts),
      baselines: owned.filter((rs) => roleOf(rs) === BASELINE_ROLE).map(replicaSetFacts),
      experimentReplicaSets: owned.filter((rs) => roleOf(rs) === EXPERIMENT_ROLE).map(replicaSetFacts),
      experimentServices: this.roleServices(ref, EXPERIMENT_ROLE),
      ...(canary.baseline !== undefined && { baselineServices: this.roleServices(ref, BASELINE_ROLE), stableServicePorts: this.stableServicePorts(ref, rollout) }),
      analysisRuns: this.ownedAnalysisRuns(ref).map((run) => ({
        name: run.metadata?.name ?? '',
        phase: run.status?.phase,
        ...(run.status?.message !== undefined && { message: run.status.message }),
        ...(run.spec?.terminate === true && { terminated: true }),
        ...(run.metadata?.creationTimestamp !== undefined && { createdAt: String(run.metadata.creationTimestamp) }),
        ...(run.metadata?.labels?.[LABEL_ANALYSIS_KIND] !== undefined && { kind: run.metadata.labels[LABEL_ANALYSIS_KIND] }),
      })),
      ...this.templates(ref, rollout),
      serviceOwners: Object.fromEntries(namedServices(rollout).map((name) => [name, this.deps.services.get(name, ref.namespace)?.metadata?.labels?.[LABEL_ROLLOUT]])),
      hasTrafficRouter: canary.trafficRouting !== undefined,
      webhooks: this.deps.webhooks?.results(ref.key) ?? [],
    };
    if (restartDue !== undefined && restartDue <= now) facts.pods = await this.pods(ref, owned);
    if (rollout.spec.workloadRef !== undefined) {
      const replicas = this.deps.deployments?.get(rollout.spec.workloadRef.name, ref.namespace)?.spec?.replicas;
      if (replicas !== undefined) facts.workloadReplicas = replicas;
    }
    if (routers !== undefined) Object.assign(facts, await this.traffic(ref, rollout, routers));
    return facts;
  }

  /** The Services it made for its experiment steps or its baseline, from the cache (they carry fledge.dev/rollout). */
  private roleServices(ref: RolloutRef, role: string): NonNullable<RolloutFacts['experimentServices']> {
    if (ref.uid === undefined) return [];
    return this.deps.services
      .listOwnedBy(ref.uid)
      .filter((service) => service.metadata?.labels?.[LABEL_ROLE] === role)
      .map((service) => ({ name: service.metadata?.name ?? '', revision: service.metadata?.labels?.[LABEL_POD_TEMPLATE_HASH] ?? '' }));
  }

  /** The ports of the Service the stable side is reached by: the baseline's Service takes the same. */
  private stableServicePorts(ref: RolloutRef, rollout: Rollout): k8s.V1ServicePort[] {
    const canary = rollout.spec.strategy.canary;
    const name = canary.stableService ?? canary.pingPong?.pingService;
    return name === undefined ? [] : (this.deps.services.get(name, ref.namespace)?.spec?.ports ?? []);
  }

  /** The templates the Rollout's analysis names: those that exist and parse, and the names of those that do not exist. */
  private templates(ref: RolloutRef, rollout: Rollout): Pick<RolloutFacts, 'templates' | 'missingTemplates'> {
    const canary = rollout.spec.strategy.canary;
    const analyses = [
      ...(canary.steps ?? []).flatMap((step) => ('analysis' in step ? [step.analysis] : 'experiment' in step ? (step.experiment.analyses ?? []).map((analysis) => ({ templates: [analysis] })) : [])),
      ...(canary.analysis ? [canary.analysis] : []),
    ];
    const templates: Record<string, AnalysisTemplateSpec> = {};
    const missing = new Set<string>();
    for (const template of analyses.flatMap((analysis) => analysis.templates)) {
      const raw = template.clusterScope === true ? this.deps.clusterAnalysisTemplates?.get(template.templateName) : this.deps.analysisTemplates.get(template.templateName, ref.namespace);
      if (raw === undefined) {
        missing.add(templateRef(template));
        continue;
      }
      const parsed = AnalysisTemplateSpec.safeParse((raw as { spec?: unknown }).spec);
      if (parsed.success) templates[templateRef(template)] = parsed.data;
    }
    return { templates, missingTemplates: [...missing] };
  }

  /**
   * The pods of the owned ReplicaSets that have any, listed by each one's selector (as the ReplicaSet controller
   * counts them): read from the API only while a restart is due, so the controller never caches Pods.
   */
  private async pods(ref: RolloutRef, owned: ReadonlyArray<k8s.V1ReplicaSet>): Promise<PodFacts[]> {
    const pods: PodFacts[] = [];
    for (const rs of owned) {
      if ((rs.spec?.replicas ?? 0) === 0) continue;
      const list = await this.deps.core.listNamespacedPod({ namespace: ref.namespace, labelSelector: selectorOf(rs) });
      for (const pod of list.items) {
        pods.push({
          name: pod.metadata?.name ?? '',
          createdAt: new Date(pod.metadata?.creationTimestamp ?? 0).getTime(),
          ready: pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
          terminating: pod.metadata?.deletionTimestamp !== undefined,
        });
      }
    }
    return pods;
  }

  /**
   * What the routers report in effect, read from the API (not a cache): a step completes on it, and an aborted
   * canary's pods go only once they say the traffic is gone. With it, what the Services the Rollout names select,
   * and (pingPong) which side the routers were read as stable.
   */
  private async traffic(ref: RolloutRef, rollout: Rollout, routers: RouterSet): Promise<Pick<RolloutFacts, 'traffic' | 'serviceSelects' | 'routedWith'>> {
    const canary = rollout.spec.strategy.canary;
    const routedWith = recordedStableSide(rollout.status);
    const traffic = await routers.observe(routerOwner(ref), routerServices(canary, routedWith));
    const serviceSelects: Record<string, string | null | undefined> = {};
    for (const name of namedServices(rollout)) {
      const service = this.deps.services.get(name, ref.namespace);
      const owned = service?.metadata?.labels?.[LABEL_ROLLOUT] === ref.owner;
      serviceSelects[name] = owned ? (service?.spec?.selector?.[LABEL_POD_TEMPLATE_HASH] ?? null) : undefined;
    }
    return { traffic, serviceSelects: serviceSelects satisfies ServiceSelects, ...(canary.pingPong !== undefined && { routedWith }) };
  }
}

/** The Services a Rollout names: stableService, canaryService, and pingPong's two. */
function namedServices(rollout: Rollout): string[] {
  const { stableService, canaryService, pingPong } = rollout.spec.strategy.canary;
  return [stableService, canaryService, pingPong?.pingService, pingPong?.pongService].filter((name): name is string => name !== undefined);
}

const roleOf = (rs: k8s.V1ReplicaSet): string | undefined => rs.metadata?.labels?.[LABEL_ROLE];

function replicaSetFacts(rs: k8s.V1ReplicaSet): ReplicaSetFacts {
  const specReplicas = rs.spec?.replicas ?? 0;
  const scaleDownAt = rs.metadata?.annotations?.[ANNOTATION_SCALE_DOWN_AT];
  return {
    name: rs.metadata?.name ?? '',
    revision: rs.metadata?.labels?.[LABEL_POD_TEMPLATE_HASH] ?? '',
    revisionNumber: Number(rs.metadata?.annotations?.[ANNOTATION_REVISION] ?? 0),
    replicas: specReplicas,
    // A status not yet caught up with a scale-down still counts the Pods being removed; cap it.
    readyReplicas: Math.min(rs.status?.readyReplicas ?? 0, specReplicas),
    availableReplicas: Math.min(rs.status?.availableReplicas ?? 0, specReplicas),
    createdAt: new Date(rs.metadata?.creationTimestamp ?? 0).getTime(),
    ...(scaleDownAt ? { scaleDownAt: new Date(scaleDownAt).getTime() } : {}),
    ...(rs.spec?.minReadySeconds !== undefined && { minReadySeconds: rs.spec.minReadySeconds }),
    ...(rs.spec?.template !== undefined && { template: rs.spec.template }),
  };
}

/** A ReplicaSet's selector as a label selector string, to list its pods. */
export function selectorOf(rs: k8s.V1ReplicaSet): string {
  return Object.entries(rs.spec?.selector.matchLabels ?? {})
    .map(([key, value]) => `${key}=${value}`)
    .join(',');
}

/** Whose routes the routers steer. */
export function routerOwner(ref: RolloutRef): RouterOwner {
  return { namespace: ref.namespace, rolloutName: ref.name, rolloutUid: ref.uid };
}
