// Bundles the demo page into dist/: index.html, assets/app.js, assets/app.css.
//   node build.mjs           one build (minified, with source maps)
//   node build.mjs --watch   rebuild on change (reload the page to see it)
// The server serves dist/ at `/` (see `huddle --web-dir`).
import * as esbuild from 'esbuild';
import { copyFile, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const src = path.join(here, 'src');
const dist = path.join(here, 'dist');
const watch = process.argv.includes('--watch');

await rm(dist, { recursive: true, force: true });
await mkdir(path.join(dist, 'assets'), { recursive: true });
await copyFile(path.join(src, 'index.html'), path.join(dist, 'index.html'));

const options = {
  entryPoints: { app: path.join(src, 'main.js'), 'app-style': path.join(src, 'style.css') },
  outdir: path.join(dist, 'assets'),
  entryNames: '[name]',
  bundle: true,
  minify: !watch,
  sourcemap: true,
  target: ['chrome100', 'firefox100', 'safari15'],
  format: 'esm',
  logLevel: 'info',
  legalComments: 'linked',
};

if (watch) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
} else {
  const started = Date.now();
  await esbuild.build(options);
  console.log(`web: built ${path.relative(process.cwd(), dist) || '.'} in ${Date.now() - started} ms`);
}
