import type * as k8s from '@kubernetes/client-node';
import type { ShardLeaseApi } from '../../../../src/kube/shards/shard-manager.js';

export class ApiError extends Error {
  constructor(readonly code: number) {
    super(`HTTP ${code}`);
  }
}

/**
 * The Leases of one namespace with the apiserver's optimistic concurrency: a replace must carry the current
 * resourceVersion, a create of an existing name and a delete with a stale precondition fail with 409. Reads come back
 * as JSON, with MicroTime as strings, as client-node returns them.
 */
export class FakeLeases {
  readonly leases = new Map<string, k8s.V1Lease>();
  private version = 0;

  /** The API as one replica reaches it; `reachable` false makes every call fail, as a partition would. */
  client(reachable: () => boolean = () => true): ShardLeaseApi {
    const guard = <A, R>(call: (arg: A) => R) => async (arg: A): Promise<Awaited<R>> => {
      if (!reachable()) throw new Error('connect ECONNREFUSED');
      return await call(arg);
    };
    return {
      listNamespacedLease: guard(({ labelSelector }: { labelSelector?: string }) => {
        const [key, value] = (labelSelector ?? '').split('=');
        const items = [...this.leases.values()].filter((lease) => key === undefined || key === '' || lease.metadata?.labels?.[key] === value);
        return { items: items.map((lease) => JSON.parse(JSON.stringify(lease)) as k8s.V1Lease) } as k8s.V1LeaseList;
      }),
      createNamespacedLease: guard(({ body }: { body: k8s.V1Lease }) => {
        if (this.leases.has(body.metadata?.name ?? '')) throw new ApiError(409);
        return this.store(body);
      }),
      replaceNamespacedLease: guard(({ name, body }: { name: string; body: k8s.V1Lease }) => {
        const current = this.leases.get(name);
        if (current === undefined) throw new ApiError(404);
        if (body.metadata?.resourceVersion !== current.metadata?.resourceVersion) throw new ApiError(409);
        return this.store(body);
      }),
      deleteNamespacedLease: guard(({ name, body }: { name: string; body?: k8s.V1DeleteOptions }) => {
        const current = this.leases.get(name);
        if (current === undefined) throw new ApiError(404);
        const expected = body?.preconditions?.resourceVersion;
        if (expected !== undefined && expected !== current.metadata?.resourceVersion) throw new ApiError(409);
        this.leases.delete(name);
        return { status: 'Success' } as k8s.V1Status;
      }),
    } as unknown as ShardLeaseApi;
  }

  private store(body: k8s.V1Lease): k8s.V1Lease {
    for (const field of ['acquireTime', 'renewTime'] as const) {
      const value = body.spec?.[field];
      // The apiserver rejects MicroTime without microseconds; V1MicroTime serializes them.
      if (value !== undefined && !JSON.stringify(value).match(/\.\d{6}Z"$/)) throw new ApiError(400);
    }
    this.version += 1;
    const stored = JSON.parse(JSON.stringify({ ...body, metadata: { ...body.metadata, resourceVersion: String(this.version) } })) as k8s.V1Lease;
    this.leases.set(stored.metadata?.name ?? '', stored);
    return JSON.parse(JSON.stringify(stored)) as k8s.V1Lease;
  }
}
