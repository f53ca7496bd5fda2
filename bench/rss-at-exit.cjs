// Bench only (node --expose-gc --require): as the process exits, a full GC, then its memory as the last line on stderr.
process.on('exit', () => {
  global.gc();
  process.stderr.write(`\n${JSON.stringify(process.memoryUsage())}\n`);
});
