/**
 * Bundles the controller into one file, `dist/main.js`, which is what production runs (`node dist/main.js`).
 *
 * Why: Node keeps every loaded module's source and module record. @kubernetes/client-node alone is over 2,500
 * files, and loading them one by one cost the idle controller about 60 MB of RSS. One whitespace-minified file
 * without them is 86 MB idle against 128 MB for `tsc`'s output (bench/README's Performance section has the
 * measurement). Identifiers are kept, so stack traces still name functions; `dist/main.js.map` maps them back to
 * `src/` with `NODE_OPTIONS=--enable-source-maps`. The CLI is not bundled: it serves files that sit beside it.
 *
 * What the bundle holds is memory the idle controller keeps (bench/idle-memory.ts measures it): the controller
 * talks to the apiserver through src/kube/ and takes only KubeConfig from client-node, never its index, whose
 * generated API classes and models were most of the bundle.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, type Metafile, type Plugin } from 'esbuild';

/**
 * client-node's config.js imports its generated API's configuration (for KubeConfig.makeApiClient) and node-fetch's
 * Headers (for applyToFetchOptions), 700 kB of models, whatwg-url and its Unicode tables. The controller calls
 * neither method (src/kube/connection.ts uses applyToHTTPSOptions), so both imports resolve to stubs that throw if
 * they ever are; a new name imported from either fails the build.
 */
const KUBE_CONFIG_ONLY: Plugin = {
  name: 'kube-config-only',
  setup(bundle) {
    const stubs: Record<string, string> = {
      './gen/index.js': 'export function createConfiguration() { throw new Error("KubeConfig.makeApiClient is not in the controller bundle"); } export class ServerConfiguration {}',
      'node-fetch': 'export class Headers { constructor() { throw new Error("KubeConfig.applyToFetchOptions is not in the controller bundle"); } }',
    };
    bundle.onResolve({ filter: /^(\.\/gen\/index\.js|node-fetch)$/ }, ({ path, importer }) =>
      /@kubernetes\/client-node\/dist\/config\.js$/.test(importer) ? { path, namespace: 'kube-config-only' } : undefined,
    );
    bundle.onLoad({ filter: /.*/, namespace: 'kube-config-only' }, ({ path }) => ({ contents: stubs[path], loader: 'js' }));
  },
};

/**
 * V8 keeps a script's source in memory as one byte a character only if every character is Latin-1; one beyond it
 * (isomorphic-git has U+FFFF in a regular expression, which esbuild writes as is) makes it two bytes a character.
 * Minified output has them only in regular expressions, where a \u escape means the same character.
 */
const latin1 = (code: string): string => code.replace(/[\u0100-\uffff]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);

/**
 * Writes the bundle to `outfile` (an ES module: name it `.mjs` outside this package). Returns esbuild's metafile,
 * which says how many bytes of the bundle each input file contributed (bench/idle-memory.ts reports them).
 */
export async function bundleController(outfile: string): Promise<Metafile> {
  const { metafile, outputFiles } = await build({
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
    plugins: [KUBE_CONFIG_ONLY],
    logLevel: 'warning',
    metafile: true,
    write: false,
  });
  mkdirSync(dirname(outfile), { recursive: true });
  // The escapes lengthen their line by a few columns, so the map is that far off after them on that line.
  for (const file of outputFiles) writeFileSync(file.path, file.path.endsWith('.js') ? latin1(file.text) : file.contents);
  return metafile;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await bundleController(process.argv[2] ?? 'dist/main.js');
