// Browser test: a person opens a pipeline page, types a tag, clicks Run, and watches the
// log arrive live until the run ends Succeeded. Real server binary, real Chromium.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve, shots } from './harness.mjs';

const app = serve();

// The compile step prints its first line, then waits until the test has seen the run live.
const gate = join(mkdtempSync(join(tmpdir(), 'conveyor-gate-')), 'open');
const DEMO = `
name: demo
description: Prints a line, waits, then prints the rest, so lines arrive while the run is live
stages:
  - name: build
    steps:
      - name: compile
        script: |
          echo "line-1 of $CONVEYOR_TAG"
          i=0; while [ ! -f '${gate}' ] && [ $i -lt 6000 ]; do sleep 0.02; i=$((i+1)); done
          for i in 2 3 4 5 6; do echo "line-$i of $CONVEYOR_TAG"; sleep 0.1; done
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
  await app.createPipeline(DEMO);
  const page = await app.browser.newPage();
  const errors = [];
  page.on('pageerror', (err) => errors.push(err.message));
  // What a panic in the WASM printed (its message and place), to say more than the trap.
  const said = [];
  page.on('console', (message) => message.type() === 'error' && said.push(message.text()));

  await page.goto(`${app.base}/pipelines/demo`);
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
  writeFileSync(gate, 'go');

  await page.locator('#run-status .badge', { hasText: /succeeded/i }).waitFor();
  const lines = await page.locator('#log .line').allInnerTexts();
  const compile = lines.filter((l) => l.includes('of v1.0.0'));
  assert.equal(compile.length, 6, `all six lines, once each: ${JSON.stringify(lines)}`);
  assert.ok(lines.some((l) => l.includes('unit ok')) && lines.some((l) => l.includes('lint ok')));
  for (const step of ['compile', 'unit', 'lint']) {
    assert.equal(await page.locator(`#steps tr[data-step="${step}"]`).getAttribute('data-status'), 'succeeded', step);
  }
  assert.equal(await page.locator('svg.stage-graph g.node.succeeded').count(), 3, 'graph coloured by live status');
  const durations = await page.locator('svg.stage-graph g.node text.duration').allTextContents();
  assert.equal(durations.length, 3, 'each ended step shows how long it ran');
  assert.ok(durations.every((d) => /^\d+(ms|\.\d+s|s|m \d+s)$/.test(d)), durations.join(', '));
  // A click on a step in the graph shows its log alone.
  await page.locator('svg.stage-graph g.node[data-step="unit"]').click();
  await page.locator('#log-count', { hasText: /^1 of \d+ lines$/ }).waitFor();
  assert.deepEqual(await page.locator('#log .line .step').allTextContents(), ['unit']);
  await page.getByRole('button', { name: 'show all' }).click();
  await page.screenshot({ path: join(shots, 'run-succeeded.png'), fullPage: true });

  await page.goto(`${app.base}/history`);
  await page.locator('#history').getByText('demo #1').waitFor();
  // Leaving a page while its WASM chunks still load makes Leptos panic on the aborted
  // fetch (`load callback should succeed`): the next page waits for this one to hydrate.
  await page.waitForSelector('body[data-hydrated="true"]');
  await page.screenshot({ path: join(shots, 'history.png'), fullPage: true });
  await page.goto(`${app.base}/`);
  await page.waitForSelector('body[data-hydrated="true"]');
  await page.screenshot({ path: join(shots, 'pipelines.png'), fullPage: true });
  assert.deepEqual(errors, [], `no script errors on the pages; the console said: ${said.join('\n')}`);
});

test('the editor validates as you type with the shared rules', async () => {
  const page = await app.browser.newPage();
  await page.goto(`${app.base}/pipelines/demo`);
  await page.waitForSelector('body[data-hydrated="true"]');
  const source = await page.inputValue('#source');
  await page.fill('#source', source.replace('parallel: true\n        script: echo lint ok', 'parallel: true\n        needs: [unti]\n        script: echo lint ok'));
  await page.locator('#problems li', { hasText: 'unknown step "unti" (did you mean "unit"?)' }).waitFor();
  await page.screenshot({ path: join(shots, 'editor-error.png'), fullPage: true });
});
