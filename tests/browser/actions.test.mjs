// Browser test: the action catalog page lists each version with what it runs, its params
// and the pipelines that use it (seeds 001 and 004). Real server binary, real Chromium.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { serve, shots } from './harness.mjs';

const app = serve();

test('the actions page lists the catalog and who uses it', async () => {
  await app.api('/api/v1/actions', {
    method: 'POST',
    headers: { 'content-type': 'application/yaml' },
    body: `
name: action01
version: v1
description: seed 001's action
script: echo "$ENV1 $ENV2"
runner: host
defaults: {ENV2: env2}
required: [ENV1]
params:
  ENV1: {allowed: [env1, env3]}
`,
  });
  await app.createPipeline(`
name: uses-action
stages:
  - name: s
    steps:
      - {name: step1.1, action: action01@v1, with: {ENV1: env1}}
`);
  const page = await app.browser.newPage();
  await page.goto(`${app.base}/actions`);
  await page.waitForSelector('body[data-hydrated="true"]');
  const row = page.locator('#actions tr[data-action="action01@v1"]');
  await row.waitFor();
  assert.match(await row.textContent(), /seed 001's action/);
  assert.match(await row.locator('td.params').textContent(), /ENV1\* ∈ \{env1, env3\}; ENV2 = env2/);
  assert.equal(await row.locator('td.used-by a').getAttribute('href'), '/pipelines/uses-action');
  await page.screenshot({ path: join(shots, 'actions.png'), fullPage: true });

  // The nav reaches it from any page.
  await page.goto(`${app.base}/`);
  await page.waitForSelector('body[data-hydrated="true"]');
  await page.click('header nav a[href="/actions"]');
  await page.locator('#actions tr[data-action="action01@v1"]').waitFor();
  await page.close();
});
