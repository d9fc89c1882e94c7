// Browser tests of managing a pipeline: emptying its runs and deleting it, each only once
// its name is typed out (the browser's own check before the WASM loads, the server's after).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { serve, shots } from './harness.mjs';

const app = serve();

async function runsOf(name) {
  return (await app.api(`/api/v1/pipelines/${name}/runs`)).runs;
}

test('empty a pipeline\'s runs, then delete it, typing its name to confirm', async () => {
  await app.createPipeline("name: doomed\nstages: [{name: s, steps: [{name: a, script: 'echo hi'}]}]\n");
  await app.runToEnd('doomed', 'v1');
  await app.runToEnd('doomed', 'v2');
  assert.equal((await runsOf('doomed')).length, 2);

  const page = await app.browser.newPage({ viewport: { width: 1300, height: 1400 } });
  const errors = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await page.goto(`${app.base}/pipelines/doomed`);
  await page.waitForSelector('body[data-hydrated="true"]');
  const zone = page.locator('#danger-zone');
  await zone.scrollIntoViewIfNeeded();
  await page.screenshot({ path: join(shots, 'danger-zone.png'), fullPage: true });

  // A wrong name: the browser does not submit.
  const empty = page.locator('#empty-runs');
  await empty.locator('input[name="confirm"]').fill('doome');
  await empty.getByRole('button', { name: 'Empty runs' }).click();
  assert.equal(await empty.locator('input[name="confirm"]').evaluate((input) => input.validity.patternMismatch), true);
  assert.equal((await runsOf('doomed')).length, 2, 'nothing deleted');

  await empty.locator('input[name="confirm"]').fill('doomed');
  const answered = page.waitForResponse((r) => r.url().endsWith('/_sfn/remove'));
  await empty.getByRole('button', { name: 'Empty runs' }).click();
  assert.equal((await answered).ok(), true);
  assert.equal((await runsOf('doomed')).length, 0, 'its runs are gone');
  assert.equal((await app.api('/api/v1/pipelines/doomed')).name, 'doomed', 'the pipeline stays');

  await page.goto(`${app.base}/pipelines/doomed`);
  await page.waitForSelector('body[data-hydrated="true"]');
  const remove = page.locator('#delete-pipeline');
  await remove.locator('input[name="confirm"]').fill('doomed');
  await remove.getByRole('button', { name: 'Delete pipeline' }).click();
  await page.waitForURL(`${app.base}/`);
  const gone = await fetch(`${app.base}/api/v1/pipelines/doomed`, { headers: app.authorization });
  assert.equal(gone.status, 404);
  assert.deepEqual(errors, []);
});

test('without the WASM the forms post, and the server holds them to the name too', async () => {
  await app.createPipeline("name: plain\nstages: [{name: s, steps: [{name: a, script: 'echo hi'}]}]\n");
  await app.runToEnd('plain', 'v1');
  const context = await app.browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto(`${app.base}/pipelines/plain`);
  const empty = page.locator('#empty-runs');
  // What a browser without the `pattern` check would send: the server refuses it.
  await empty.locator('input[name="confirm"]').evaluate((input) => input.removeAttribute('pattern'));
  await empty.locator('input[name="confirm"]').fill('nope');
  await empty.getByRole('button', { name: 'Empty runs' }).click();
  await page.waitForLoadState('load');
  assert.match(await page.content(), /type the name \\?"plain\\?" to confirm/);
  assert.equal((await runsOf('plain')).length, 1, 'nothing deleted');

  await page.goto(`${app.base}/pipelines/plain`);
  await page.locator('#empty-runs input[name="confirm"]').fill('plain');
  await page.locator('#empty-runs').getByRole('button', { name: 'Empty runs' }).click();
  await page.waitForURL(`${app.base}/pipelines/plain`);
  assert.equal((await runsOf('plain')).length, 0);
  await context.close();
});

test('a workflow\'s page offers its deletion to admins only', async () => {
  await app.api('/api/v1/workflows', {
    method: 'POST', headers: { 'content-type': 'application/yaml' },
    body: "name: shop\ngit: {url: 'https://git.example/shop.git'}\nimage: {name: registry.example/shop, username: bot, password: pw}\n",
  });
  await app.api('/api/v1/users', {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'dev', role: 'developer', password: 'a long enough password' }),
  });
  const developer = await app.signedIn('dev', 'a long enough password').newPage();
  await developer.goto(`${app.base}/pipelines/shop`);
  await developer.waitForSelector('body[data-hydrated="true"]');
  assert.match(await developer.textContent('#delete-pipeline'), /Deleting a workflow needs the admin role/);
  assert.equal(await developer.locator('#delete-pipeline button').count(), 0);
  assert.equal(await developer.locator('#empty-runs button').count(), 1, 'emptying its runs is a developer\'s');

  const admin = await app.browser.newPage();
  await admin.goto(`${app.base}/pipelines/shop`);
  await admin.waitForSelector('body[data-hydrated="true"]');
  await admin.locator('#delete-pipeline input[name="confirm"]').fill('shop');
  await admin.getByRole('button', { name: 'Delete workflow' }).click();
  await admin.waitForURL(`${app.base}/`);
  const gone = await fetch(`${app.base}/api/v1/workflows/shop`, { headers: app.authorization });
  assert.equal(gone.status, 404);
});
