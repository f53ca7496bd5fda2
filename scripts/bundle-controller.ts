/**
 * Bundles the controller into one file, `dist/main.js`, which is what production runs (`node dist/main.js`).
 *
 * Why: Node keeps every loaded module's source and module record. @kubernetes/client-node alone is over 2,500
 * files, and loading them one by one cost the idle controller about 60 MB of RSS. One whitespace-minified file
 * without them is 86 MB idle against 128 MB for `tsc`'s output (bench/README's Performance section has the
 * measurement). Identifiers are kept, so stack traces still name functions; `dist/main.js.map` maps them back to
 * `src/` with `NODE_OPTIONS=--enable-source-maps`. The CLI is not bundled: it serves files that sit beside it.
 */
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, type Metafile } from 'esbuild';

/**
 * Writes the bundle to `outfile` (an ES module: name it `.mjs` outside this package). Returns esbuild's metafile,
 * which says how many bytes of the bundle each input file contributed (bench/idle-memory.ts reports them).
 */
export async function bundleController(outfile: string): Promise<Metafile> {
  const { metafile } = await build({
    entryPoints: [fileURLToPath(new URL('../src/main.ts', import.meta.url))],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // Full minification (renamed identifiers) measured 20 MB more RSS than whitespace and syntax alone.
    minifyWhitespace: true,
    minifySyntax: true,
    sourcemap: 'linked',
    legalComments: 'linked',
    // Bundled CommonJS dependencies call require() for Node's built-ins, which an ES module does not have.
    banner: { js: "import { createRequire as fledgeCreateRequire } from 'node:module'; const require = fledgeCreateRequire(import.meta.url);" },
    logLevel: 'warning',
    metafile: true,
  });
  return metafile;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await bundleController(process.argv[2] ?? 'dist/main.js');
