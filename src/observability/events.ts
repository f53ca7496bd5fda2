import * as k8s from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import type { Logger } from './logger.js';

export interface EventTarget {
  apiVersion: string;
  kind: string;
  name: string;
  namespace: string;
  uid?: string;
}

export interface EventRecorder {
  record(target: EventTarget, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void>;
}

/** Writes core/v1 Events, which `kubectl describe` and `kubectl events` show. A failed write is logged, never fatal. */
export function createEventRecorder(core: k8s.CoreV1Api, component: string, logger: Logger): EventRecorder {
  return {
    async record(target, type, reason, message) {
      const now = new Date();
      try {
        await core.createNamespacedEvent({
          namespace: target.namespace,
          body: {
            metadata: { name: `${target.name}.${now.getTime().toString(16)}${randomBytes(2).toString('hex')}`, namespace: target.namespace },
            involvedObject: { apiVersion: target.apiVersion, kind: target.kind, name: target.name, namespace: target.namespace, uid: target.uid },
            type,
            reason,
            message,
            source: { component },
            reportingComponent: component,
            reportingInstance: process.env.HOSTNAME ?? component,
            firstTimestamp: now,
            lastTimestamp: now,
            count: 1,
          },
        });
      } catch (err) {
        logger.warn('could not record event', { reason, error: String(err) });
      }
    },
  };
}
