// Bench only (node --expose-gc --require): a full GC on SIGUSR2, so the scale bench samples memory that is really held.
process.on('SIGUSR2', () => global.gc());
