// Builds dist/t.js (minified IIFE, served by the edge at /t.js; copied to pipeline/edge/static)
// and dist/tracker.mjs (minified ES module), and prints their gzipped sizes.
import { copyFileSync, readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const common = { bundle: true, minify: true, target: ['es2019'], legalComments: 'none' };
await build({ ...common, entryPoints: ['src/script.js'], format: 'iife', outfile: 'dist/t.js' });
await build({
  ...common,
  entryPoints: ['src/tracker.js'],
  format: 'esm',
  outfile: 'dist/tracker.mjs',
});
copyFileSync('dist/t.js', '../pipeline/edge/static/t.js');
for (const file of ['dist/t.js', 'dist/tracker.mjs']) {
  const raw = readFileSync(file);
  console.log(`${file}: ${raw.length} bytes, ${gzipSync(raw, { level: 9 }).length} gzipped`);
}
