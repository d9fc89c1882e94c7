// Browser tests of what people do around runs: approve a waiting step, cancel a run, page
// and filter the history, switch the colour theme, and use the keyboard.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { serve, shots } from './harness.mjs';

const app = serve();

async function hydrated(page, path) {
  const errors = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await page.goto(app.base + path);
  await page.waitForSelector('body[data-hydrated="true"]');
  return errors;
}

const background = (page) => page.evaluate(() => getComputedStyle(document.body).backgroundColor);

test('approve a waiting step from the run page', async () => {
  await app.createPipeline(`
name: gated
stages:
  - name: build
    steps:
      - {name: build, script: 'echo built'}
  - name: release
    steps:
      - {name: release, approval: true, script: 'echo released'}
`);
  const run = await app.startRun('gated', 'v1');
  const page = await app.browser.newPage();
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
  await app.createPipeline(`
name: slow
stages:
  - name: wait
    steps:
      - {name: long, script: 'echo started; sleep 300'}
  - name: after
    steps:
      - {name: later, script: 'echo later'}
`);
  const run = await app.startRun('slow', 'v1');
  const page = await app.browser.newPage();
  const errors = await hydrated(page, `/runs/${run.id}`);
  await page.locator('#log .line', { hasText: 'started' }).waitFor();
  await page.getByRole('button', { name: 'Cancel' }).click();
  await page.locator('#run-status .badge', { hasText: /cancelled/i }).waitFor();
  assert.equal(await page.locator('#steps tr[data-step="long"]').getAttribute('data-status'), 'cancelled');
  assert.equal(await page.locator('#steps tr[data-step="later"]').getAttribute('data-status'), 'cancelled');
  await page.screenshot({ path: join(shots, 'run-cancelled.png'), fullPage: true });

  // Re-run: the same tag again, as a new run.
  await page.getByRole('button', { name: 'Re-run', exact: true }).click();
  await page.waitForURL((url) => url.pathname !== `/runs/${run.id}` && /\/runs\/\d+$/.test(url.pathname));
  await page.locator('#log .line', { hasText: 'started' }).waitFor();
  const again = Number(page.url().split('/').pop());
  const detail = await app.api(`/api/v1/runs/${again}`);
  assert.equal(detail.tag, 'v1');
  assert.equal(detail.number, 2);
  await page.getByRole('button', { name: 'Cancel' }).click();
  await page.locator('#run-status .badge', { hasText: /cancelled/i }).waitFor();
  assert.deepEqual(errors, []);
});

test('history pages through runs and filters them by status', async () => {
  await app.createPipeline("name: many\nwith: {CODE: '0'}\nstages: [{name: s, steps: [{name: check, script: 'exit $CODE'}]}]\n");
  // 30 runs, every third one failing: 10 failed, 20 succeeded.
  for (let i = 1; i <= 30; i++) {
    await app.runToEnd('many', `v${i}`, { CODE: i % 3 === 0 ? '1' : '0' });
  }
  const page = await app.browser.newPage();
  const errors = await hydrated(page, '/pipelines/many/history');
  const tags = () => page.locator('#history tbody td code').allInnerTexts();
  const first = await tags();
  assert.equal(first.length, 25, 'a page holds 25 runs');
  assert.equal(first[0], 'v30', 'newest first');
  // The chart: a bar per run of the page; v6..v30 has 9 failures, so 16 of 25 succeeded.
  assert.equal(await page.locator('svg.runs-chart rect').count(), 25);
  assert.equal(await page.locator('svg.runs-chart rect.failed').count(), 9);
  assert.equal(await page.locator('#success-rate').innerText(), '· 64% succeeded');
  await page.screenshot({ path: join(shots, 'history-page-1.png'), fullPage: true });
  await page.getByRole('link', { name: /Older runs/ }).click();
  await page.waitForURL(/before=/);
  await page.locator('#history tbody td code', { hasText: /^v5$/ }).waitFor();
  const second = await tags();
  assert.deepEqual(second, ['v5', 'v4', 'v3', 'v2', 'v1'], 'the rest, with no overlap');
  assert.equal(await page.getByRole('link', { name: /Older runs/ }).count(), 0, 'the last page');
  // And back: the newer page is the first one again.
  await page.getByRole('link', { name: /Newer runs/ }).click();
  await page.waitForURL(/after=/);
  await page.locator('#history tbody td code', { hasText: /^v30$/ }).waitFor();
  assert.deepEqual(await tags(), first, 'Newer gives the page before, exactly');
  assert.equal(await page.getByRole('link', { name: /Newer runs/ }).count(), 0, 'nothing newer than the newest');
  await page.goBack();
  await page.locator('#history tbody td code', { hasText: /^v1$/ }).waitFor();

  await page.selectOption('#status', 'failed');
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.waitForURL(/status=failed/);
  await page.locator('#history tbody td code', { hasText: /^v30$/ }).waitFor();
  const failed = await tags();
  assert.deepEqual(failed, ['v30', 'v27', 'v24', 'v21', 'v18', 'v15', 'v12', 'v9', 'v6', 'v3']);
  assert.equal(await page.locator('#history .badge.failed').count(), 10);
  await page.screenshot({ path: join(shots, 'history-failed.png'), fullPage: true });

  // By tag (server-side), with the status filter cleared; the page keeps its filters.
  await page.selectOption('#status', '');
  await page.fill('#tag-filter', 'v7');
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.waitForURL(/tag=v7/);
  await page.locator('#history tbody tr').first().waitFor();
  assert.deepEqual(await tags(), ['v7']);
  assert.equal(await page.inputValue('#tag-filter'), 'v7');

  // By trigger: all 30 came through the API, none is a re-run.
  await page.fill('#tag-filter', '');
  await page.selectOption('#trigger', 'rerun');
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.waitForURL(/trigger=rerun/);
  await page.locator('.empty', { hasText: 'No runs.' }).waitFor();
  await page.selectOption('#trigger', 'api');
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.waitForURL(/trigger=api/);
  await page.locator('#history tbody tr').first().waitFor();
  assert.equal((await tags())[0], 'v30');
  assert.equal(await page.locator('#history td[data-trigger="api"]').count(), 25);

  // The dashboard sums up the last 20: v11..v30, of which v12, v15 … v30 failed (7).
  await page.goto(`${app.base}/`);
  const row = page.locator('#pipelines tr[data-pipeline="many"]');
  assert.equal(await row.locator('svg.spark rect').count(), 20, 'a bar per recent run');
  assert.equal(await row.locator('svg.spark rect.failed').count(), 7);
  assert.equal(await row.locator('td.rate').innerText(), '65%');
  assert.deepEqual(errors, []);
});

test('the dashboard updates live as runs start and end', async () => {
  await app.createPipeline("name: live-one\nstages: [{name: s, steps: [{name: a, script: 'echo hi'}]}]\n");
  const page = await app.browser.newPage();
  const errors = await hydrated(page, '/');
  await page.locator('#pipelines[data-live="true"]').waitFor();
  const row = page.locator('#pipelines tr[data-pipeline="live-one"]');
  await row.getByText('never run').waitFor();
  await app.runToEnd('live-one', 'v9');
  await row.locator('.badge.succeeded').waitFor();
  assert.equal(await row.locator('td code').innerText(), 'v9');
  assert.equal(await row.locator('svg.spark rect').count(), 1);
  assert.equal(await row.locator('td.rate').innerText(), '100%');
  // A pipeline made after the page loaded shows up with its first run.
  await app.createPipeline("name: late-one\nstages: [{name: s, steps: [{name: a, script: 'exit 3'}]}]\n");
  await app.runToEnd('late-one', 'v1');
  await page.locator('#pipelines tr[data-pipeline="late-one"] .badge.failed').waitFor();
  await page.screenshot({ path: join(shots, 'dashboard-live.png'), fullPage: true });
  assert.deepEqual(errors, []);
});

test('re-run only the failed steps from the run page', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'conveyor-retry-'));
  const flag = join(dir, 'fixed');
  await app.createPipeline(`name: retry-me
with: {FLAG: '${flag}'}
stages:
  - name: s
    steps:
      - {name: first, script: 'echo first ran'}
      - {name: second, script: 'test -f "$FLAG"'}
`);
  const run = await app.runToEnd('retry-me', 'v1');
  const page = await app.browser.newPage();
  const errors = await hydrated(page, `/runs/${run.id}`);
  await page.locator('#run-status .badge', { hasText: /failed/i }).waitFor();
  writeFileSync(flag, 'yes');
  await page.click('#retry-failed');
  await page.waitForURL((url) => url.pathname !== `/runs/${run.id}`);
  await page.locator('#run-status .badge', { hasText: /succeeded/i }).waitFor();
  assert.match(await page.locator('#steps tr[data-step="first"]').innerText(), /succeeded in run #1; not run again/);
  assert.equal(await page.locator('#steps tr[data-step="second"]').getAttribute('data-status'), 'succeeded');
  await page.screenshot({ path: join(shots, 'run-retried.png'), fullPage: true });
  rmSync(dir, { recursive: true, force: true });
  assert.deepEqual(errors, []);
});

test('the colour theme follows the system, switches with the toggle, and is remembered', async () => {
  const dark = await app.browser.newContext({ colorScheme: 'dark' });
  const page = await dark.newPage();
  await hydrated(page, '/');
  assert.equal(await background(page), 'rgb(17, 20, 24)', 'dark system, dark page');
  await dark.close();

  const light = await app.browser.newContext({ colorScheme: 'light' });
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
  await app.createPipeline("name: keys\ndescription: keyboard\nstages: [{name: s, steps: [{name: a, script: 'echo hi'}]}]\n");
  const page = await app.browser.newPage();
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

  await page.goto(`${app.base}/pipelines/keys`);
  await page.waitForSelector('body[data-hydrated="true"]');
  const remembered = await page.locator('#recent-tags option').evaluateAll((options) => options.map((o) => o.value));
  assert.deepEqual(remembered, ['v9.9.9'], 'the tag just run is offered next time');

  await page.goto(`${app.base}/`);
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

test('the log viewer shows ANSI colours, numbers lines with permalinks, and searches', async () => {
  await app.createPipeline(`
name: paint
stages:
  - name: s
    steps:
      - name: paint
        script: |
          printf '\\033[1;31mERROR\\033[0m plain\\n'
          for i in $(seq 2 301); do echo "line $i"; done
          echo needle-here
`);
  const run = await app.runToEnd('paint', 'v1');
  const page = await app.browser.newPage();
  const errors = await hydrated(page, `/runs/${run.id}#step-paint-L150`);
  const linked = page.locator('#step-paint-L150');
  await linked.waitFor();
  assert.match(await linked.innerText(), /^150\s*paint\s*line 150$/);
  assert.deepEqual(await page.locator('#log .line.linked').evaluateAll((l) => l.map((e) => e.id)), ['step-paint-L150'], 'the linked line is marked');
  assert.equal(await linked.evaluate((e) => getComputedStyle(e).backgroundColor), 'rgba(187, 128, 9, 0.25)', 'and highlighted');
  assert.equal(await page.isChecked('#log-follow'), false, 'a permalink stops following so the line stays in view');
  const inView = await linked.evaluate((line) => {
    const box = line.getBoundingClientRect();
    const log = document.getElementById('log').getBoundingClientRect();
    return box.top >= log.top && box.bottom <= log.bottom;
  });
  assert.ok(inView, 'scrolled to the linked line');
  await page.screenshot({ path: join(shots, 'log-permalink.png'), fullPage: true });

  // The viewer keeps only the lines near the view in the page: go up to the first one.
  await page.evaluate(() => { window.location.hash = '#step-paint-L1'; });
  const red = page.locator('#step-paint-L1 span.fg-1.bold');
  assert.equal(await red.innerText(), 'ERROR', 'ANSI bold red became a styled span');
  assert.ok(!(await page.locator('#step-paint-L1').innerText()).includes('['), 'no escape codes left in the text');
  assert.equal(await page.locator('#log-count').innerText(), '302 lines');

  await page.fill('#log-search', 'NEEDLE');
  await page.locator('#log-count', { hasText: '1 of 302 lines' }).waitFor();
  assert.deepEqual(await page.locator('#log .line').evaluateAll((l) => l.map((e) => e.id)), ['step-paint-L302'], 'only the match, keeping its number');
  assert.match(await page.locator('#step-paint-L302').innerText(), /needle-here$/);
  assert.deepEqual(errors, []);
});

test('the run page carries the log tail in its HTML, numbered as the live viewer numbers it', async () => {
  await app.createPipeline(`
name: tail
stages:
  - name: one
    steps:
      - name: many
        script: for i in $(seq 1 250); do echo "many-$i"; done
  - name: two
    steps:
      - name: few
        script: printf 'few-1\\nfew-2\\n\\033[32mfew-3\\033[0m\\n'
`);
  const run = await app.runToEnd('tail', 'v1');
  // Without JavaScript: the last 200 lines are in the page as the server made it.
  const context = await app.browser.newContext({ javaScriptEnabled: false });
  const bare = await context.newPage();
  await bare.goto(`${app.base}/runs/${run.id}`);
  const tailLines = (page) => page.locator('#log .log-tail .line').evaluateAll((lines) => lines.map((l) => ({
    number: l.querySelector('.ln').textContent,
    href: l.querySelector('.ln').getAttribute('href'),
    step: l.querySelector('.step').textContent,
    text: l.textContent.slice(l.querySelector('.ln').textContent.length + l.querySelector('.step').textContent.length),
  })));
  const tail = await tailLines(bare);
  assert.equal(tail.length, 200, 'the last 200 lines');
  assert.equal(await bare.locator('#log-count').innerText(), 'last 200 lines');
  assert.deepEqual(tail.at(-1), { number: '3', href: '#step-few-L3', step: 'few', text: 'few-3' });
  assert.equal(await bare.locator('#log .log-tail .line').last().locator('span.fg-2').innerText(), 'few-3', 'ANSI colours too');
  assert.ok(tail.some((l) => l.text === 'many-250') && !tail.some((l) => l.text === 'many-1'), 'the end of the log, not its start');
  await bare.screenshot({ path: join(shots, 'run-without-js.png'), fullPage: true });
  await context.close();

  // With JavaScript the live viewer takes over; its numbers are the tail's numbers.
  const page = await app.browser.newPage();
  const errors = await hydrated(page, `/runs/${run.id}`);
  const live = page.locator('#step-few-L3');
  await live.waitFor();
  assert.equal(await page.locator('#log .log-tail').count(), 0, 'the tail is gone once the live log has lines');
  await page.locator('#log-count', { hasText: '253 lines' }).waitFor();
  for (const line of tail.slice(-20)) {
    const shown = page.locator(line.href);
    assert.equal(await shown.locator('.step').innerText(), line.step, line.href);
    assert.ok((await shown.innerText()).endsWith(line.text), `${line.href}: ${line.text}`);
  }
  assert.deepEqual(errors, []);
});

test('the versions page shows the diff between any two saved versions', async () => {
  const v1 = "name: evolving\nstages:\n  - name: s\n    steps:\n      - {name: a, script: 'echo one'}\n";
  const v2 = "name: evolving\n# now with a second step\nstages:\n  - name: s\n    steps:\n      - {name: a, script: 'echo one'}\n      - {name: b, script: 'echo two'}\n";
  const v3 = v2.replace("echo one", "echo uno");
  await app.createPipeline(v1);
  await app.api('/api/v1/pipelines/evolving', { method: 'PUT', headers: { 'content-type': 'application/yaml' }, body: v2 });
  await app.api('/api/v1/pipelines/evolving', { method: 'PUT', headers: { 'content-type': 'application/yaml' }, body: v3 });
  const page = await app.browser.newPage();
  const errors = await hydrated(page, '/pipelines/evolving');
  await page.getByRole('link', { name: 'Versions' }).click();
  await page.waitForURL(/\/versions$/);
  await page.locator('#diff').waitFor();
  // By default: the latest against the one before.
  assert.deepEqual(await page.locator('#diff tr.removed td.text').allInnerTexts(), ["      - {name: a, script: 'echo one'}"]);
  assert.deepEqual(await page.locator('#diff tr.added td.text').allInnerTexts(), ["      - {name: a, script: 'echo uno'}"]);

  await page.selectOption('#from', '1');
  await page.selectOption('#to', '3');
  await page.getByRole('button', { name: 'Compare' }).click();
  await page.waitForURL(/from=1&to=3/);
  await page.locator('#diff-summary', { hasText: '4 lines changed' }).waitFor();
  assert.deepEqual(await page.locator('#diff tr.added td.text').allInnerTexts(), [
    '# now with a second step',
    "      - {name: a, script: 'echo uno'}",
    "      - {name: b, script: 'echo two'}",
  ]);
  await page.screenshot({ path: join(shots, 'versions-diff.png'), fullPage: true });
  await page.goto(`${app.base}/pipelines/evolving/versions?from=2&to=2`);
  await page.locator('#diff-summary', { hasText: 'no changes' }).waitFor();
  assert.deepEqual(errors, []);
});

test('the run form takes extra params and says which engine runs the pipeline', async () => {
  await app.createPipeline("name: params\nwith: {ENV: dev}\nstages: [{name: s, steps: [{name: show, script: 'echo \"env=$ENV\"'}]}]\n");
  const page = await app.browser.newPage();
  const errors = await hydrated(page, '/pipelines/params');
  assert.equal(await page.locator('#pipeline-engine').innerText(), 'engine local');
  await page.fill('#tag', 'v1');
  await page.locator('details.params summary').click();
  await page.fill('#params', 'oops');
  await page.click('#run-button');
  await page.locator('.run-box .error', { hasText: 'params line 1: "oops" is not NAME=value' }).waitFor();
  await page.fill('#params', 'ENV=staging');
  await page.click('#run-button');
  await page.waitForURL(/\/runs\/\d+$/);
  await page.locator('#log .line', { hasText: 'env=staging' }).waitFor();
  assert.equal(await page.locator('#run-engine').innerText(), 'engine local');
  assert.deepEqual(errors, []);
});
