// Bundles the extension (and, with --tests, the unit tests) with esbuild.
//   node esbuild.mjs               out/extension.js with source maps
//   node esbuild.mjs --production  minified, no source maps (what the VSIX ships)
//   node esbuild.mjs --tests       out/test/*.test.js for `node --test`
//   node esbuild.mjs --watch
import { readdirSync } from 'node:fs';
import * as esbuild from 'esbuild';

const production = process.argv.includes('--production');
const tests = process.argv.includes('--tests');
const watch = process.argv.includes('--watch');

const common = {
  bundle: true,
  platform: 'node',
  target: 'node18',
  format: 'cjs',
  logLevel: 'warning',
};

const options = tests
  ? {
      ...common,
      entryPoints: readdirSync('test')
        .filter((name) => name.endsWith('.test.ts'))
        .map((name) => `test/${name}`),
      outdir: 'out/test',
      sourcemap: 'inline',
      // the unit tests cover the pure modules; nothing may pull in the editor API
      external: [],
    }
  : {
      ...common,
      entryPoints: ['src/extension.ts'],
      outfile: 'out/extension.js',
      external: ['vscode'],
      minify: production,
      sourcemap: !production,
      sourcesContent: false,
    };

if (watch) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
} else {
  await esbuild.build(options);
}
