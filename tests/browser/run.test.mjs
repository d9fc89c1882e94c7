// Browser test: a person opens a pipeline page, types a tag, clicks Run, and watches the
// log arrive live until the run ends Succeeded. Real server binary, real Chromium.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

const root = resolve(import.meta.dirname, '../..');
const shots = join(root, 'target', 'screenshots');
// cargo honours CARGO_TARGET_DIR for binaries; the site always lands in target/site.
const binaries = process.env.CARGO_TARGET_DIR ?? join(root, 'target');
let server;
let base;
let browser;
let dataDir;

function startServer() {
  dataDir = mkdtempSync(join(tmpdir(), 'conveyor-browser-'));
  const binary = process.env.CONVEYOR_BIN ?? join(binaries, 'debug', 'conveyor');
  const child = spawn(binary, ['serve', '--bind', '127.0.0.1:0', '--data-dir', dataDir, '--site-root', join(root, 'target', 'site')], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolvePromise, reject) => {
    let seen = '';
    child.stdout.on('data', (chunk) => {
      seen += chunk;
      const match = seen.match(/conveyor listening on (http:\/\/[\d.:]+)/);
      if (match) resolvePromise({ child, url: match[1] });
    });
    child.on('exit', (code) => reject(new Error(`server exited early with ${code}`)));
  });
}

async function api(path, options = {}) {
  const response = await fetch(base + path, options);
  const body = await response.json();
  if (!response.ok) throw new Error(`${path}: ${response.status} ${JSON.stringify(body)}`);
  return body;
}

before(async () => {
  ({ child: server, url: base } = await startServer());
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  mkdirSync(shots, { recursive: true });
});

after(async () => {
  await browser?.close();
  server?.kill('SIGTERM');
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

const DEMO = `
name: demo
description: Prints lines slowly so they arrive while the run is live
stages:
  - name: build
    steps:
      - name: compile
        script: |
          for i in 1 2 3 4 5 6; do echo "line-$i of $CONVEYOR_TAG"; sleep 0.4; done
  - name: test
    steps:
      - name: unit
        parallel: true
        script: echo unit ok
      - name: lint
        parallel: true
        script: echo lint ok
`;

test('type a tag, click Run, watch live logs until Succeeded', async () => {
  await api('/api/v1/pipelines', { method: 'POST', body: DEMO });
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (err) => errors.push(err.message));

  await page.goto(`${base}/pipelines/demo`);
  await page.waitForSelector('body[data-hydrated="true"]');
  assert.equal(await page.locator('svg.stage-graph g.node').count(), 3, 'the plan graph shows three steps');
  await page.screenshot({ path: join(shots, 'pipeline.png'), fullPage: true });

  await page.fill('#tag', 'v1.0.0');
  await page.click('#run-button');
  await page.waitForURL(/\/runs\/\d+$/);

  // The first line shows while the run is still going: it arrived live.
  const firstLine = page.locator('#log .line', { hasText: 'line-1 of v1.0.0' });
  await firstLine.waitFor();
  const statusWhileFirstLine = await page.locator('#run-status .badge').innerText();
  assert.match(statusWhileFirstLine.toLowerCase(), /running|pending/, 'the first line arrived before the run ended');
  await page.screenshot({ path: join(shots, 'run-live.png'), fullPage: true });

  await page.locator('#run-status .badge', { hasText: /succeeded/i }).waitFor();
  const lines = await page.locator('#log .line').allInnerTexts();
  const compile = lines.filter((l) => l.includes('of v1.0.0'));
  assert.equal(compile.length, 6, `all six lines, once each: ${JSON.stringify(lines)}`);
  assert.ok(lines.some((l) => l.includes('unit ok')) && lines.some((l) => l.includes('lint ok')));
  for (const step of ['compile', 'unit', 'lint']) {
    assert.equal(await page.locator(`#steps tr[data-step="${step}"]`).getAttribute('data-status'), 'succeeded', step);
  }
  assert.equal(await page.locator('svg.stage-graph g.node.succeeded').count(), 3, 'graph coloured by live status');
  await page.screenshot({ path: join(shots, 'run-succeeded.png'), fullPage: true });

  await page.goto(`${base}/history`);
  await page.locator('#history').getByText('demo #1').waitFor();
  await page.screenshot({ path: join(shots, 'history.png'), fullPage: true });
  await page.goto(`${base}/`);
  await page.screenshot({ path: join(shots, 'pipelines.png'), fullPage: true });
  assert.deepEqual(errors, [], 'no script errors on the pages');
});

test('the editor validates as you type with the shared rules', async () => {
  const page = await browser.newPage();
  await page.goto(`${base}/pipelines/demo`);
  await page.waitForSelector('body[data-hydrated="true"]');
  const source = await page.inputValue('#source');
  await page.fill('#source', source.replace('parallel: true\n        script: echo lint ok', 'parallel: true\n        needs: [unti]\n        script: echo lint ok'));
  await page.locator('#problems li', { hasText: 'unknown step "unti" (did you mean "unit"?)' }).waitFor();
  await page.screenshot({ path: join(shots, 'editor-error.png'), fullPage: true });
});
