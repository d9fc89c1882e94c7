// Benchmark: what each page ships to the browser. Run it with `scripts/bench-payload`, which
// builds the release site first (split into per-page chunks, precompressed).
//
// For every page, a fresh browser context loads it until it is hydrated, and the WASM and
// JS it fetched are added up three ways: bytes on the wire (what the server sent: brotli),
// gzip -9 of each file (the budget's unit: at most 400 KB a page), and uncompressed.
import { gzipSync } from 'node:zlib';
import { start } from './harness.mjs';

const BUDGET = 400 * 1024;
const app = await start();
const failures = [];
try {
  await app.createPipeline(`name: web
stages:
  - name: build
    steps:
      - {name: compile, script: 'echo compiled'}
  - name: test
    steps:
      - {name: unit, script: 'echo tested'}
`);
  const run = await app.runToEnd('web', 'v1');
  const pages = [
    ['dashboard', '/'],
    ['new pipeline (editor)', '/new'],
    ['pipeline (editor, run form)', '/pipelines/web'],
    ['run (graph, live log)', `/runs/${run.id}`],
    ['history', '/history'],
    ['pipeline history', '/pipelines/web/history'],
    ['versions', '/pipelines/web/versions'],
    ['deployment settings', '/new/workflow'],
  ];
  const kb = (n) => (n / 1024).toFixed(1).padStart(7);
  console.log(`${'page'.padEnd(30)} files  ${'wire KB'.padStart(7)}  ${'gzip-9'.padStart(7)}  ${'raw KB'.padStart(7)}`);
  let worst = 0;
  for (const [label, path] of pages) {
    const context = await app.browser.newContext();
    const page = await context.newPage();
    const shipped = [];
    page.on('request', (request) => {
      if (/\.(wasm|js)$/.test(new URL(request.url()).pathname)) shipped.push(request);
    });
    await page.goto(app.base + path);
    await page.waitForSelector('body[data-hydrated="true"]');
    // Hydration waited for the chunks it runs; preloads may still be arriving.
    await Promise.all(shipped.map(async (request) => (await request.response())?.finished()));
    let wire = 0;
    let gzip = 0;
    let raw = 0;
    for (const request of shipped) {
      const response = await request.response();
      const body = await response.body();
      wire += (await request.sizes()).responseBodySize;
      gzip += gzipSync(body, { level: 9 }).length;
      raw += body.length;
    }
    worst = Math.max(worst, gzip);
    if (gzip > BUDGET) failures.push(`${label}: ${kb(gzip)} KB gzip`);
    console.log(`${label.padEnd(30)} ${String(shipped.length).padStart(5)}  ${kb(wire)}  ${kb(gzip)}  ${kb(raw)}`);
    await context.close();
  }
  console.log(`largest page: ${kb(worst).trim()} KB gzip -9 against a budget of ${BUDGET / 1024} KB (${(worst / BUDGET).toFixed(2)} of it)`);
} finally {
  await app.stop();
}
if (failures.length) {
  console.error(`over budget: ${failures.join('; ')}`);
  process.exit(1);
}
