import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { exportLines, shellQuote } from '../../harness/shell-exports.js';

describe('cluster:up output', () => {
  it('leaves plain paths and URLs as they are, one `export NAME=value` a line', () => {
    expect(exportLines({ KUBECONFIG: '/tmp/fledge-cluster/kubeconfig', PROMETHEUS_URL: 'http://127.0.0.1:16450' })).toBe(
      'export KUBECONFIG=/tmp/fledge-cluster/kubeconfig\nexport PROMETHEUS_URL=http://127.0.0.1:16450\n',
    );
  });

  it('quotes anything else so that a shell reads back exactly the value, exported to its children', () => {
    const awkward = `/tmp/it's a "dir" with $HOME, \`date\`, a\\b and\nnewline;*`;
    expect(shellQuote(awkward)).not.toBe(awkward);
    const seen = execFileSync('sh', ['-c', `eval "$1"; exec node -e 'process.stdout.write(process.env.KUBECONFIG)'`, 'sh', exportLines({ KUBECONFIG: awkward })], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH },
    });
    expect(seen).toBe(awkward);
  });
});
