import type * as k8s from '@kubernetes/client-node';
import type { TrafficObservation } from '../../traffic/types.js';
import type { WebhookResult } from './hooks.js';
import type { PodTemplate, Rollout } from '../../api/rollout.js';
import type { AnalysisTemplateSpec } from '../../api/analysis.js';
import type { PodFacts } from './restart.js';

/** Which of pingPong's Services is the stable one. */
export type PingPongSide = 'ping' | 'pong';

/** Which revision each Service the Rollout names selects (owned ones only; undefined: not ours, or missing). */
export type ServiceSelects = Readonly<Record<string, string | null | undefined>>;

/** What the shell observed about one ReplicaSet this Rollout owns. */
export interface ReplicaSetFacts {
  name: string;
  /** Pod-template hash (label fledge.dev/pod-template-hash). */
  revision: string;
  /** Annotation fledge.dev/revision; increases with every new template. */
  revisionNumber: number;
  /** spec.replicas */
  replicas: number;
  readyReplicas: number;
  availableReplicas: number;
  /** Epoch ms. */
  createdAt: number;
  /** Epoch ms from annotation fledge.dev/scale-down-at, if a scale-down is scheduled. */
  scaleDownAt?: number;
  /** spec.minReadySeconds as written on the ReplicaSet. */
  minReadySeconds?: number;
  /** Its pod template as written (role metadata, injected anti-affinity, the images a write-back restores). */
  template?: k8s.V1PodTemplateSpec;
}

/** A Service the Rollout owns for pods no Service it names selects: an experiment template's, or its baseline's (label fledge.dev/role). */
export interface RoleServiceFacts {
  name: string;
  /** The pod-template hash it selects (its fledge.dev/pod-template-hash label). */
  revision: string;
}

export type AnalysisPhase = 'Pending' | 'Running' | 'Successful' | 'Failed' | 'Error' | 'Inconclusive';

export interface AnalysisRunFacts {
  name: string;
  /** Undefined until the run's controller first writes status. */
  phase: AnalysisPhase | undefined;
  /** The run's own account of its verdict, e.g. which metric failed with which value. */
  message?: string;
  /** spec.terminate: cut short because the Rollout left the step, so its verdict judges nothing now. */
  terminated?: boolean;
  /** metadata.creationTimestamp as written (RFC 3339): the oldest finished runs are pruned first. */
  createdAt?: string;
  /** Its fledge.dev/analysis label: `step`, `background` or `experiment`. */
  kind?: string;
}

/** Everything `decide` may look at: a plain, immutable snapshot of the world, clock included. */
export interface RolloutFacts {
  /** Epoch ms. */
  now: number;
  /** Parsed; status may be absent on first sight. */
  rollout: Rollout;
  /** Pod-template hash of `template`, computed by the shell with podTemplateHash. */
  currentRevision: string;
  /** The pod template a new ReplicaSet runs: spec.template with config tracking's copies in place of what it reads. */
  template: PodTemplate;
  /** Only the ReplicaSets this Rollout owns, its baselines left out. */
  replicaSets: ReplicaSetFacts[];
  /** Its baseline ReplicaSets (label fledge.dev/role=baseline): one while a canary with a baseline is in progress. */
  baselines?: ReplicaSetFacts[];
  /** Its experiment steps' ReplicaSets and Services (label fledge.dev/role=experiment): only while one runs. */
  experimentReplicaSets?: ReplicaSetFacts[];
  experimentServices?: RoleServiceFacts[];
  /** Its baseline's Services (label fledge.dev/role=baseline): one while a canary with a baseline is in progress behind a router. */
  baselineServices?: RoleServiceFacts[];
  /** The stable Service's ports (stableService, or pingPong's), read only for a baseline: its Service takes the same. */
  stableServicePorts?: k8s.V1ServicePort[];
  /**
   * The AnalysisRuns this Rollout owns, as their status says. decide() looks runs up by the names it
   * gives them (revision, attempt and step are in the name), so a verdict never leaks to another step.
   */
  analysisRuns: AnalysisRunFacts[];
  /**
   * Templates the Rollout's analysis names that do not exist (yet), as `AnalysisTemplate NAME` or
   * `ClusterAnalysisTemplate NAME`: under GitOps a Rollout and its templates arrive in either order.
   */
  missingTemplates: string[];
  /** The templates the Rollout's analysis names that exist and parse, by templateRef (`AnalysisTemplate NAME`). */
  templates: Record<string, AnalysisTemplateSpec>;
  /** The fledge.dev/rollout label of the stable and canary Services the Rollout names, by Service name (absent: none). */
  serviceOwners: Record<string, string | undefined>;
  /** The pods of the owned ReplicaSets, read only while a restart (spec.restartAt) is due. */
  pods?: PodFacts[];
  /** The workloadRef's Deployment: its spec.replicas (absent without a workloadRef, or before it is seen). */
  workloadReplicas?: number;
  /** spec.strategy.canary.trafficRouting is set: a router splits traffic; without one the pod ratio is the split. */
  hasTrafficRouter: boolean;
  /**
   * What the routers read back this reconcile (only with a router), all of them together: a weight and routes only
   * where every router agrees, every router's problem.
   */
  traffic?: TrafficObservation;
  /** What the stable, canary, ping and pong Services the Rollout names select, by name (read with the routers). */
  serviceSelects?: ServiceSelects;
  /** With pingPong: the side the routers were read (and are applied) as stable, status.canary.stablePingPong as read. */
  routedWith?: PingPongSide;
  /** The latest answers of the webhook calls the shell is making for this Rollout, by call key. */
  webhooks?: WebhookResult[];
}
