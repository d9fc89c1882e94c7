// The dashboard's panel: runs per day, success rate, duration percentiles, the slowest and
// most often failing steps, over 7, 30 or 90 days chosen in the address.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { serve, shots } from './harness.mjs';

const app = serve();

test('the dashboard panel over 7 and 30 days', async () => {
  await app.createPipeline(`
name: nightly
with: {CODE: '0'}
stages:
  - name: all
    steps:
      - {name: fetch, script: 'true'}
      - {name: test, needs: [fetch], script: 'sleep 0.2; exit $CODE'}
`);
  for (const code of ['0', '1', '0']) {
    await app.runToEnd('nightly', 'v1', { CODE: code });
  }
  const page = await app.browser.newPage({ viewport: { width: 1300, height: 1000 } });
  const errors = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await page.goto(`${app.base}/`);
  await page.waitForSelector('body[data-hydrated="true"]');
  const panel = page.locator('#stats');
  await panel.locator('h2', { hasText: 'Last 7 days' }).waitFor();
  assert.equal(await page.textContent('#stats-runs'), '3');
  assert.equal(await page.textContent('#stats-rate'), '67%');
  assert.match(await page.textContent('#stats-p95'), /^\d/);
  assert.equal(await panel.locator('svg.per-day g[data-day]').count(), 7);
  const perDay = await panel.locator('svg.per-day g[data-day]').evaluateAll((days) => days.map((d) => Number(d.dataset.runs)));
  assert.equal(perDay.reduce((a, b) => a + b, 0), 3, 'every run on its day');
  assert.equal(await page.locator('#slowest-steps tr').first().getAttribute('data-step'), 'nightly/test');
  assert.match(await page.textContent('#failing-steps tr[data-step="nightly/test"]'), /1 of 3 runs failed/);
  assert.equal(await page.locator('#failing-steps tr[data-step="nightly/fetch"]').count(), 0);
  await panel.screenshot({ path: join(shots, 'dashboard-panel.png') });

  await panel.locator('a[data-days="30"]').click();
  await page.waitForURL(/\?days=30$/);
  await panel.locator('h2', { hasText: 'Last 30 days' }).waitFor();
  assert.equal(await panel.locator('svg.per-day g[data-day]').count(), 30);
  assert.equal(await panel.locator('a[aria-current="page"]').textContent(), '30 days');
  assert.equal(await page.textContent('#stats-runs'), '3');
  assert.deepEqual(errors, []);
});
