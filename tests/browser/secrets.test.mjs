// Browser test: an admin sets a secret on the secrets page, a run's step uses it, and the
// run page shows it masked; the value is in no page. Real server binary, real Chromium.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { serve, shots } from './harness.mjs';

const app = serve();

test('set a secret in the page, use it in a run, see only ********', async () => {
  const value = `s3cret-${process.pid}-${Date.now()}`;
  const page = await app.browser.newPage();
  await page.goto(`${app.base}/secrets`);
  await page.waitForSelector('body[data-hydrated="true"]');
  await page.fill('#secret-form input[name=name]', 'DEPLOY_TOKEN');
  await page.fill('#secret-form input[name=value]', value);
  await page.click('#secret-form button[type=submit]');
  await page.locator('#secrets tr[data-secret="DEPLOY_TOKEN"]').waitFor();
  assert.ok(!(await page.content()).includes(value), 'the page never shows the value');
  await page.screenshot({ path: join(shots, 'secrets.png'), fullPage: true });

  await app.createPipeline(`
name: uses-secret
stages:
  - name: s
    steps:
      - name: deploy
        secrets: [DEPLOY_TOKEN]
        script: echo "deploying with $DEPLOY_TOKEN"
`);
  const run = await app.runToEnd('uses-secret', 'v1');
  await page.goto(`${app.base}/runs/${run.id}`);
  await page.waitForSelector('body[data-hydrated="true"]');
  await page.locator('#log .line', { hasText: 'deploying with ********' }).waitFor();
  assert.ok(!(await page.content()).includes(value), 'nor does the run page');

  await page.goto(`${app.base}/secrets`);
  await page.waitForSelector('body[data-hydrated="true"]');
  await page.locator('#secrets tr[data-secret="DEPLOY_TOKEN"] button', { hasText: 'Remove' }).click();
  await page.locator('#secrets tr[data-secret="DEPLOY_TOKEN"]').waitFor({ state: 'detached' });
  await page.close();
});
