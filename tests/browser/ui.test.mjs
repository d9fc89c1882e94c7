// Browser tests of what people do around runs: approve a waiting step, cancel a run, page
// and filter the history, switch the colour theme, and use the keyboard.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { start, shots } from './harness.mjs';

let base;
let browser;
let api;
let runToEnd;
let stop;

before(async () => {
  ({ base, browser, api, runToEnd, stop } = await start());
});

after(async () => {
  await stop?.();
});

async function hydrated(page, path) {
  const errors = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await page.goto(base + path);
  await page.waitForSelector('body[data-hydrated="true"]');
  return errors;
}

const background = (page) => page.evaluate(() => getComputedStyle(document.body).backgroundColor);

test('approve a waiting step from the run page', async () => {
  await api('/api/v1/pipelines', {
    method: 'POST',
    body: `
name: gated
stages:
  - name: build
    steps:
      - {name: build, script: 'echo built'}
  - name: release
    steps:
      - {name: release, approval: true, script: 'echo released'}
`,
  });
  const run = await api('/api/v1/pipelines/gated/runs', {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ tag: 'v1' }),
  });
  const page = await browser.newPage();
  const errors = await hydrated(page, `/runs/${run.id}`);
  const waiting = page.locator('#steps tr[data-step="release"][data-status="waiting_approval"]');
  await waiting.waitFor();
  await page.screenshot({ path: join(shots, 'run-waiting-approval.png'), fullPage: true });
  await waiting.getByRole('button', { name: 'Approve' }).click();
  await page.locator('#run-status .badge', { hasText: /succeeded/i }).waitFor();
  assert.equal(await page.locator('#steps tr[data-step="release"]').getAttribute('data-status'), 'succeeded');
  await page.locator('#log .line', { hasText: 'released' }).waitFor();
  assert.deepEqual(errors, []);
});

test('cancel a running run from the run page', async () => {
  await api('/api/v1/pipelines', {
    method: 'POST',
    body: `
name: slow
stages:
  - name: wait
    steps:
      - {name: long, script: 'echo started; sleep 300'}
  - name: after
    steps:
      - {name: later, script: 'echo later'}
`,
  });
  const run = await api('/api/v1/pipelines/slow/runs', {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ tag: 'v1' }),
  });
  const page = await browser.newPage();
  const errors = await hydrated(page, `/runs/${run.id}`);
  await page.locator('#log .line', { hasText: 'started' }).waitFor();
  await page.getByRole('button', { name: 'Cancel' }).click();
  await page.locator('#run-status .badge', { hasText: /cancelled/i }).waitFor();
  assert.equal(await page.locator('#steps tr[data-step="long"]').getAttribute('data-status'), 'cancelled');
  assert.equal(await page.locator('#steps tr[data-step="later"]').getAttribute('data-status'), 'cancelled');
  await page.screenshot({ path: join(shots, 'run-cancelled.png'), fullPage: true });
  assert.deepEqual(errors, []);
});

test('history pages through runs and filters them by status', async () => {
  await api('/api/v1/pipelines', {
    method: 'POST',
    body: "name: many\nwith: {CODE: '0'}\nstages: [{name: s, steps: [{name: check, script: 'exit $CODE'}]}]\n",
  });
  // 30 runs, every third one failing: 10 failed, 20 succeeded.
  for (let i = 1; i <= 30; i++) {
    await runToEnd('many', `v${i}`, { CODE: i % 3 === 0 ? '1' : '0' });
  }
  const page = await browser.newPage();
  const errors = await hydrated(page, '/pipelines/many/history');
  const tags = () => page.locator('#history tbody td code').allInnerTexts();
  const first = await tags();
  assert.equal(first.length, 25, 'a page holds 25 runs');
  assert.equal(first[0], 'v30', 'newest first');
  await page.screenshot({ path: join(shots, 'history-page-1.png'), fullPage: true });
  await page.getByRole('link', { name: /Older runs/ }).click();
  await page.waitForURL(/before=/);
  await page.locator('#history tbody td code', { hasText: /^v5$/ }).waitFor();
  const second = await tags();
  assert.deepEqual(second, ['v5', 'v4', 'v3', 'v2', 'v1'], 'the rest, with no overlap');

  await page.selectOption('#status', 'failed');
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.waitForURL(/status=failed/);
  await page.locator('#history tbody td code', { hasText: /^v30$/ }).waitFor();
  const failed = await tags();
  assert.deepEqual(failed, ['v30', 'v27', 'v24', 'v21', 'v18', 'v15', 'v12', 'v9', 'v6', 'v3']);
  assert.equal(await page.locator('#history .badge.failed').count(), 10);
  await page.screenshot({ path: join(shots, 'history-failed.png'), fullPage: true });
  assert.deepEqual(errors, []);
});

test('the colour theme follows the system, switches with the toggle, and is remembered', async () => {
  const dark = await browser.newContext({ colorScheme: 'dark' });
  const page = await dark.newPage();
  await hydrated(page, '/');
  assert.equal(await background(page), 'rgb(17, 20, 24)', 'dark system, dark page');
  await dark.close();

  const light = await browser.newContext({ colorScheme: 'light' });
  const lightPage = await light.newPage();
  const errors = await hydrated(lightPage, '/');
  assert.equal(await background(lightPage), 'rgb(246, 247, 249)', 'light system, light page');
  await lightPage.click('#theme-toggle');
  assert.equal(await lightPage.getAttribute('html', 'data-theme'), 'dark');
  assert.equal(await background(lightPage), 'rgb(17, 20, 24)');
  await lightPage.screenshot({ path: join(shots, 'pipelines-dark.png'), fullPage: true });
  await lightPage.reload();
  await lightPage.waitForSelector('body[data-hydrated="true"]');
  assert.equal(await lightPage.getAttribute('html', 'data-theme'), 'dark', 'remembered across pages');
  assert.equal(await background(lightPage), 'rgb(17, 20, 24)');
  await lightPage.keyboard.press('t');
  assert.equal(await lightPage.getAttribute('html', 'data-theme'), 'light', 't switches too');
  await lightPage.keyboard.press('t');
  assert.equal(await lightPage.getAttribute('html', 'data-theme'), null, 'back to the system');
  assert.equal(await background(lightPage), 'rgb(246, 247, 249)');
  await light.close();
  assert.deepEqual(errors, []);
});

test('? lists the shortcuts, r jumps to the tag, / to the filter, and tags are remembered', async () => {
  await api('/api/v1/pipelines', {
    method: 'POST',
    body: "name: keys\ndescription: keyboard\nstages: [{name: s, steps: [{name: a, script: 'echo hi'}]}]\n",
  });
  const page = await browser.newPage();
  const errors = await hydrated(page, '/pipelines/keys');
  await page.keyboard.press('?');
  await page.locator('#shortcuts').waitFor({ state: 'visible' });
  await page.screenshot({ path: join(shots, 'shortcuts.png') });
  await page.keyboard.press('Escape');
  await page.locator('#shortcuts').waitFor({ state: 'hidden' });

  await page.keyboard.press('r');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'tag');
  await page.keyboard.type('v9.9.9');
  await page.keyboard.press('Enter');
  await page.waitForURL(/\/runs\/\d+$/);
  await page.locator('#run-status .badge', { hasText: /succeeded/i }).waitFor();

  await page.goto(`${base}/pipelines/keys`);
  await page.waitForSelector('body[data-hydrated="true"]');
  const remembered = await page.locator('#recent-tags option').evaluateAll((options) => options.map((o) => o.value));
  assert.deepEqual(remembered, ['v9.9.9'], 'the tag just run is offered next time');

  await page.goto(`${base}/`);
  await page.waitForSelector('body[data-hydrated="true"]');
  await page.keyboard.press('/');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'filter');
  await page.keyboard.type('keyb');
  await page.locator('#pipelines tr[data-pipeline="keys"]').waitFor({ state: 'visible' });
  await page.locator('#pipelines tr[data-pipeline="gated"]').waitFor({ state: 'hidden' });
  const time = page.locator('#pipelines tr[data-pipeline="keys"] time');
  assert.match(await time.innerText(), /just now|min ago/, 'relative time');
  assert.match(await time.getAttribute('title'), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/, 'exact time on hover');
  assert.deepEqual(errors, []);
});
