// A long log in the run page: the viewer keeps only the lines in view in the page, so
// following, jumping to a linked line and searching stay quick however long the log is.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { serve, shots } from './harness.mjs';

const app = serve();

// CONVEYOR_BIG_LOG_LINES=1000000 runs the same test at a million lines (see README).
const LINES = Number(process.env.CONVEYOR_BIG_LOG_LINES ?? 100000);

test(`a ${LINES}-line log: only the lines in view are in the page`, async () => {
  await app.createPipeline(`
name: big
stages:
  - name: s
    steps:
      - name: big
        script: |
          seq 1 ${LINES - 1} | sed 's/^/row-/'
          echo needle-at-the-end
`);
  const run = await app.runToEnd('big', 'v1');
  const page = await app.browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await page.goto(`${app.base}/runs/${run.id}`);
  await page.waitForSelector('body[data-hydrated="true"]');
  await page.locator('#log-count', { hasText: `${LINES} lines` }).waitFor({ timeout: 600000 });

  // Following: the end is in view, and the page holds a window of lines, not all of them.
  await page.locator('#log .line', { hasText: 'needle-at-the-end' }).waitFor();
  const inPage = await page.locator('#log .line').count();
  assert.ok(inPage > 10 && inPage < 200, `${inPage} line elements for ${LINES} lines`);
  const spacer = await page.locator('#log .log-space').evaluate((e) => e.getBoundingClientRect().height);
  assert.equal(Math.round(spacer), LINES * 19, 'the scroll range covers every line');
  await page.screenshot({ path: join(shots, 'log-100k-end.png') });

  // A link to a line in the middle scrolls there and marks it.
  await page.evaluate(() => { window.location.hash = '#step-big-L50000'; });
  const linked = page.locator('#step-big-L50000');
  await linked.waitFor();
  assert.match(await linked.innerText(), /^50000\s*big\s*row-50000$/);
  assert.equal(await page.locator('#log .line.linked').count(), 1);
  assert.equal(await page.isChecked('#log-follow'), false);

  // Search runs over every line, not just those in the page.
  const wanted = `row-${LINES - 7}`; // the longest numbers: no other line contains it
  await page.fill('#log-search', wanted);
  await page.locator('#log-count', { hasText: `1 of ${LINES} lines` }).waitFor();
  await page.locator('#log .line', { hasText: wanted }).waitFor();
  assert.equal(await page.locator('#log .line').count(), 1);
  await page.fill('#log-search', '');
  await page.locator('#log-count', { hasText: `${LINES} lines` }).waitFor();
  assert.deepEqual(errors, []);
});
