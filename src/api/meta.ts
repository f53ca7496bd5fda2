import { z } from 'zod';

/** Kubernetes' metav1.LabelSelector. */
/** Label values are at most 63 characters; the bound also keeps CEL rules over labels within cost. */
export const LabelValue = z.string().max(63);
/** maxProperties keeps CEL rules that iterate labels within the apiserver's cost budget. */
export const Labels = z.record(z.string(), LabelValue).meta({ maxProperties: 64 });

export const LabelSelector = z.object({
  matchLabels: Labels.optional(),
  matchExpressions: z
    .array(
      z.object({
        key: z.string(),
        operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']),
        values: z.array(z.string()).optional(),
      }),
    )
    .optional(),
});
export type LabelSelector = z.infer<typeof LabelSelector>;

/** A status condition as the Kubernetes API conventions define it (what kstatus and Argo CD read). */
export const Condition = z.object({
  type: z.string(),
  status: z.enum(['True', 'False', 'Unknown']),
  reason: z.string(),
  message: z.string(),
  observedGeneration: z.number().int().optional(),
  lastTransitionTime: z.string(),
});
export type Condition = z.infer<typeof Condition>;

/** The parts of ObjectMeta that Fledge reads; everything else passes through. */
export const ObjectMeta = z.looseObject({
  name: z.string().optional(),
  namespace: z.string().optional(),
  uid: z.string().optional(),
  generation: z.number().int().optional(),
  resourceVersion: z.string().optional(),
  creationTimestamp: z.union([z.string(), z.date()]).optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});

/** An int-or-string such as maxSurge: `3` or `"25%"`. */
export const IntOrPercent = z.union([z.number().int().min(0), z.string().regex(/^[0-9]+%$/)]);
export type IntOrPercent = z.infer<typeof IntOrPercent>;
