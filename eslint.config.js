import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/** Files that decide: pure functions of their input (see the rule below, and ../shared/ARCHITECTURE.md). */
export const PURE_FILES = [
  'src/api/**/*.ts',
  'src/rollout/decide/**/*.ts',
  'src/rollout/config/tracking.ts',
  'src/analysis/{condition,invariants,judge-verdict,measure,metric-args,plan,query,run-machine,templates}.ts',
  'src/traffic/{plan,types}.ts',
  'src/gitops/{edit,find-edit,helm-values,snapshot,write-back-scope}.ts',
  'src/yaml/*.ts',
  'src/judge/**/*.ts',
  'src/kube/shards/{balance,shard-of}.ts',
];

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'test/harness/k8s/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-eval': 'error',
      'no-new-func': 'error',
    },
  },
  // The controller's bundle must not load client-node's index: its generated API classes and models were most of the
  // bundle and of the idle controller's memory (scripts/bundle-controller.ts). Types are free; src/kube/ talks to the
  // apiserver. The CLI is not bundled. Pure files restrict it further below.
  {
    files: ['src/**/*.ts'],
    ignores: ['src/cli/**'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        { paths: [{ name: '@kubernetes/client-node', message: 'the controller calls the apiserver through src/kube/ (api.ts): import types only', allowTypeImports: true }] },
      ],
    },
  },
  // The pure wall: decisions (the machines, decide() and its planners, verdicts, edits of Git files) take facts and
  // return plans. No I/O, no clock, no randomness, enforced here rather than remembered (as Temporal's SDK does for
  // workflow code). Types may be imported from anywhere; values only from other pure files and libraries without I/O.
  {
    files: PURE_FILES,
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: ['fs', 'fs/promises', 'http', 'https', 'net', 'child_process', 'os'].map((name) => ({ name, message: 'a pure file does no I/O: take what it needs as facts', allowTypeImports: true })),
          patterns: [
            // Hashing and deep equality are deterministic: a pure file may hash a template or compare two values.
            { group: ['node:*', '!node:crypto', '!node:util', 'axios', 'isomorphic-git', 'isomorphic-git/*', 'prom-client'], message: 'a pure file does no I/O: take what it needs as facts', allowTypeImports: true },
            { group: ['@kubernetes/client-node'], message: 'a pure file never calls the apiserver: import types only', allowTypeImports: true },
            { group: ['**/observability/*', '**/kube/*', '**/http/*', '**/reconciler.js', '**/gitops/push.js', '**/gitops/git-http.js', '**/providers/prometheus.js', '**/providers/web.js', '**/providers/job.js', '**/providers/registry.js', '**/routers/*'], message: 'a pure file imports no effectful module: the shell calls it, not the other way round', allowTypeImports: true },
          ],
        },
      ],
      'no-restricted-syntax': [
        'error',
        { selector: "CallExpression[callee.object.name='Date'][callee.property.name='now']", message: 'no clock in a pure file: use facts.now' },
        { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: 'no clock in a pure file: use facts.now' },
        { selector: "MemberExpression[object.name='Math'][property.name='random']", message: 'no randomness in a pure file: decisions must replay' },
        { selector: "Identifier[name='process']", message: 'no process state in a pure file: take it as configuration' },
        { selector: "CallExpression[callee.name=/^(setTimeout|setInterval|setImmediate|fetch)$/]", message: 'a pure file neither waits nor calls out: return requeueAfterMs' },
      ],
    },
  },
  { files: ['**/*.js', '**/*.mjs', '**/*.cjs'], languageOptions: { globals: globals.node } },
  // The dashboard's page runs in the browser, served as written (no bundler).
  { files: ['src/cli/dashboard/static/**/*.js'], languageOptions: { globals: globals.browser } },
);
