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
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '^(node_modules|dist|test/harness/k8s)' },
  },
};
