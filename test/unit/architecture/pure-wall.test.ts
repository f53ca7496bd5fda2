import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const repoRoot = new URL('../../../', import.meta.url).pathname;
const eslint = new ESLint({ cwd: repoRoot });

/** The lint messages a pure file (or another file) would get for `code`, by rule and line. */
async function violations(code: string, filePath: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: `${repoRoot}${filePath}` });
  return (result?.messages ?? []).filter((m) => m.ruleId === '@typescript-eslint/no-restricted-imports' || m.ruleId === 'no-restricted-syntax').map((m) => `${m.ruleId}:${m.line}`);
}

describe('the pure wall (eslint.config.js)', () => {
  it('refuses I/O, effectful modules, the clock and randomness in a file that decides', async () => {
    const code = [
      "import axios from 'axios';",
      "import { readFileSync } from 'node:fs';",
      "import * as k8s from '@kubernetes/client-node';",
      "import { sendRequest } from '../http/request.js';",
      "import { writeBack } from '../gitops/push.js';",
      'export const now = (): number => Date.now();',
      'export const later = (): Date => new Date();',
      'export const dice = (): number => Math.random();',
      'export const env = (): string | undefined => process.env.HOME;',
      'export const wait = (): unknown => setTimeout(() => {}, 1);',
      'export const used = [axios, readFileSync, k8s, sendRequest, writeBack];',
    ].join('\n');
    expect(await violations(code, 'src/rollout/decide/plan.ts')).toEqual([
      '@typescript-eslint/no-restricted-imports:1',
      '@typescript-eslint/no-restricted-imports:2',
      '@typescript-eslint/no-restricted-imports:3',
      '@typescript-eslint/no-restricted-imports:4',
      '@typescript-eslint/no-restricted-imports:5',
      'no-restricted-syntax:6',
      'no-restricted-syntax:7',
      'no-restricted-syntax:8',
      'no-restricted-syntax:9',
      'no-restricted-syntax:10',
    ]);
  });

  it('lets a pure file import types from anywhere and date arithmetic on given times', async () => {
    const code = [
      "import type * as k8s from '@kubernetes/client-node';",
      "import type { Logger } from '../observability/logger.js';",
      'export const at = (epochMs: number): string => new Date(epochMs).toISOString();',
      'export type Both = [k8s.V1Pod, Logger];',
    ].join('\n');
    expect(await violations(code, 'src/rollout/decide/plan.ts')).toEqual([]);
  });

  it('leaves the shell alone: the same code is allowed in a reconciler', async () => {
    expect(await violations("import axios from 'axios';\nexport const now = (): number => Date.now();\nexport const a = axios;", 'src/rollout/reconciler.ts')).toEqual([]);
  });
});
