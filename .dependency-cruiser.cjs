/** The import graph's rules, checked by `npm run lint`: no cycles between files, and dependencies point inward. */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A file cycle means two concepts that cannot be read (or tested) apart: move the shared piece out.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'dependencies-point-inward',
      severity: 'error',
      comment: 'The building blocks never reach up into the controllers, the plugin or the wiring that use them.',
      from: { path: '^src/(api|analysis|traffic|gitops|http|kube|observability|yaml)/' },
      to: { path: '^src/(rollout|cli|controller)/|^src/main[.]ts$' },
    },
    {
      name: 'api-imports-only-yaml',
      severity: 'error',
      comment: 'src/api is the contract every folder reads: it imports nothing of ours but the YAML module.',
      from: { path: '^src/api/' },
      to: { path: '^src/', pathNot: '^src/(api|yaml)/' },
    },
    {
      name: 'decide-never-reaches-the-shell',
      severity: 'error',
      comment: 'The pure core takes facts and returns a plan: the shell imports it, never the other way round.',
      from: { path: '^src/rollout/decide/' },
      to: { path: '^src/rollout/(act|hooks|config/copies|reconciler|observe|report|deps)' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '^(node_modules|dist|test/harness/k8s)' },
  },
};
