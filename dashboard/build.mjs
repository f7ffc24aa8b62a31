// Builds the dashboard into ../pipeline/edge/static/dashboard: the JS and CSS bundles under
// hashed names (served with a year's max-age) and index.html naming them (served no-cache).
// The world map's country outlines are projected here, at build time (world-atlas 110m through
// topojson-client and d3-geo), so the browser gets ready SVG paths and no projection code.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { geoNaturalEarth1, geoPath } from 'd3-geo';
import countries from 'i18n-iso-countries';
import { feature } from 'topojson-client';

const OUT = '../pipeline/edge/static/dashboard';
const LIMIT = 150 * 1024;

function worldPaths() {
  const atlas = JSON.parse(readFileSync('node_modules/world-atlas/countries-110m.json', 'utf8'));
  const land = feature(atlas, atlas.objects.countries);
  land.features = land.features.filter((f) => f.properties.name !== 'Antarctica');
  const projection = geoNaturalEarth1().fitSize([960, 470], land);
  const path = geoPath(projection).digits(0);
  const shapes = {};
  for (const f of land.features) {
    const code = countries.numericToAlpha2(f.id) || f.properties.name;
    const d = path(f);
    if (d) shapes[code] = (shapes[code] || '') + d;
  }
  return shapes;
}

mkdirSync('src/generated', { recursive: true });
writeFileSync('src/generated/world.json', JSON.stringify(worldPaths()));

rmSync(OUT, { recursive: true, force: true });
mkdirSync(`${OUT}/assets`, { recursive: true });
const result = await build({
  entryPoints: ['src/main.jsx'],
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2020'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  legalComments: 'none',
  entryNames: '[name]-[hash]',
  outdir: `${OUT}/assets`,
  metafile: true,
});
const outputs = Object.keys(result.metafile.outputs);
const js = outputs.find((f) => f.endsWith('.js'));
const css = outputs.find((f) => f.endsWith('.css'));
const html = readFileSync('src/index.html', 'utf8')
  .replace('%JS%', `/dashboard/assets/${basename(js)}`)
  .replace('%CSS%', `/dashboard/assets/${basename(css)}`);
writeFileSync(`${OUT}/index.html`, html);

let total = 0;
for (const file of outputs) {
  const raw = readFileSync(file);
  const gz = gzipSync(raw, { level: 9 }).length;
  if (file.endsWith('.js')) total += gz;
  console.log(`${basename(file)}: ${raw.length} bytes, ${gz} gzipped`);
}
console.log(`gzipped JS: ${total} bytes (limit ${LIMIT})`);
if (total > LIMIT) {
  console.error('the dashboard JS is over its size budget');
  process.exit(1);
}
