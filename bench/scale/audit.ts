import { closeSync, openSync, readSync, statSync } from 'node:fs';

/** The fields of an audit line the benches read. */
export interface AuditEvent {
  verb: string;
  user: { username: string };
  objectRef?: { resource?: string; subresource?: string; namespace?: string; name?: string };
  requestReceivedTimestamp: string;
}

/**
 * The apiserver writes one JSON line per request of the harness's audited user (ClusterState.auditedToken) when
 * it receives it. The controller under test is that user's only client, so the lines between two marks are
 * exactly its requests in between, counted the same way for every controller.
 */
export class AuditLog {
  constructor(private readonly file: string) {}

  /** The offset just past the last complete line. */
  mark(): number {
    const size = statSync(this.file).size;
    const fd = openSync(this.file, 'r');
    try {
      const window = Buffer.alloc(Math.min(size, 1 << 20));
      readSync(fd, window, 0, window.length, size - window.length);
      return size - window.length + window.lastIndexOf(0x0a) + 1;
    } finally {
      closeSync(fd);
    }
  }

  /** When the apiserver received the last request before `mark`. */
  lastRequestAt(mark: number): number {
    const fd = openSync(this.file, 'r');
    try {
      const window = Buffer.alloc(Math.min(mark, 1 << 20));
      readSync(fd, window, 0, window.length, mark - window.length);
      const line = window.toString().trimEnd().split('\n').pop() ?? '';
      return Date.parse((JSON.parse(line) as { requestReceivedTimestamp: string }).requestReceivedTimestamp);
    } finally {
      closeSync(fd);
    }
  }

  /** Every line between two marks, parsed, in the order the apiserver received them. */
  *events(from: number, to: number): Generator<AuditEvent> {
    const fd = openSync(this.file, 'r');
    try {
      const chunk = Buffer.alloc(8 << 20);
      let rest = '';
      for (let at = from; at < to; ) {
        const read = readSync(fd, chunk, 0, Math.min(chunk.length, to - at), at);
        if (read === 0) break;
        at += read;
        const lines = (rest + chunk.subarray(0, read).toString()).split('\n');
        rest = lines.pop() ?? '';
        for (const line of lines) if (line) yield JSON.parse(line) as AuditEvent;
      }
    } finally {
      closeSync(fd);
    }
  }

  /** Requests between two marks by "verb resource[/subresource]", most frequent first. */
  count(from: number, to: number): { total: number; byVerbResource: Record<string, number> } {
    const counts = new Map<string, number>();
    let total = 0;
    for (const event of this.events(from, to)) {
      const resource = event.objectRef?.resource ?? 'non-resource';
      const key = `${event.verb} ${resource}${event.objectRef?.subresource ? `/${event.objectRef.subresource}` : ''}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
      total++;
    }
    return { total, byVerbResource: Object.fromEntries([...counts].sort((a, b) => b[1] - a[1])) };
  }
}
