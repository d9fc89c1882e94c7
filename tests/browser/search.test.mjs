// Search across every log from the browser: the search page (filters in the address, hits
// newest run first with their matches marked, a link to the line), the same page without
// JavaScript, and the run page's search listing matches from the whole stored log.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { serve, shots } from './harness.mjs';

const app = serve();

const ALPHA = `
name: alpha
stages:
  - name: s
    steps:
      - name: build
        script: |
          seq 1 5000 | sed 's/^/row-/'
          echo 'error: NEEDLE-one found here'
`;

const BETA = `
name: beta
stages:
  - name: s
    steps:
      - name: test
        script: |
          echo 'a needle-one, and another needle-one'
          exit 1
`;

let runs;

async function hits(page) {
  return page.locator('#search-hits .hit').evaluateAll((items) => items.map((item) => ({
    run: item.querySelector('.hit-head a').textContent,
    line: item.querySelector('.hit-line-number').textContent,
    marks: [...item.querySelectorAll('mark')].map((m) => m.textContent),
  })));
}

test('the search page finds lines of every run, filters them and links to each line', async () => {
  await app.createPipeline(ALPHA);
  await app.createPipeline(BETA);
  runs = [await app.runToEnd('alpha', 'v1'), await app.runToEnd('beta', 'v2')];
  const page = await app.browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = [];
  page.on('pageerror', (err) => errors.push(err.message));

  await page.goto(`${app.base}/search`);
  await page.waitForSelector('body[data-hydrated="true"]');
  await page.fill('#search-q', 'needle-ONE');
  await page.click('#search-form button[type=submit]');
  await page.waitForURL((url) => url.searchParams.get('q') === 'needle-ONE');
  await page.locator('#search-hits .hit').nth(1).waitFor();
  assert.deepEqual(await hits(page), [
    { run: 'beta #1', line: 'line 1', marks: ['needle-one', 'needle-one'] },
    { run: 'alpha #1', line: 'line 5001', marks: ['NEEDLE-one'] },
  ]);
  await page.screenshot({ path: join(shots, 'search.png'), fullPage: true });

  // A filter narrows it, and stays in the address.
  await page.selectOption('#status', 'succeeded');
  await page.click('#search-form button[type=submit]');
  await page.waitForURL((url) => url.searchParams.get('status') === 'succeeded');
  await page.locator('#search-hits .hit', { hasText: 'alpha #1' }).waitFor();
  assert.equal(await page.locator('#search-hits .hit').count(), 1);

  // The line's link opens the run at that line.
  await page.click('#search-hits .hit-line-number');
  await page.waitForURL((url) => url.pathname === `/runs/${runs[0].id}` && url.hash === '#step-build-L5001');
  await page.waitForSelector('body[data-hydrated="true"]');
  await page.locator('#step-build-L5001.linked').waitFor();

  // Bad input says why.
  await page.goto(`${app.base}/search?q=ab`);
  await page.locator('#search-error', { hasText: 'too short' }).waitFor();
  assert.deepEqual(errors, []);
});

test('the search page works without JavaScript', async () => {
  const page = await app.browser.newPage({ javaScriptEnabled: false });
  await page.goto(`${app.base}/search?q=needle-one&pipeline=beta`);
  assert.deepEqual(await hits(page), [{ run: 'beta #1', line: 'line 1', marks: ['needle-one', 'needle-one'] }]);
  await page.close();
});

test("the run page's search lists matches from the whole stored log", async () => {
  const page = await app.browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await page.goto(`${app.base}/runs/${runs[0].id}`);
  await page.waitForSelector('body[data-hydrated="true"]');
  await page.fill('#log-search', 'row-499');
  const whole = page.locator('#log-search-whole');
  await whole.locator('summary', { hasText: '11 matches in the whole log' }).waitFor();
  const first = whole.locator('li').first();
  assert.equal(await first.locator('a').getAttribute('href'), '#step-build-L499');
  assert.equal(await first.locator('mark').innerText(), 'row-499');
  await page.screenshot({ path: join(shots, 'run-search-whole-log.png') });
  // A listed match opens its line.
  await whole.locator('li a', { hasText: 'build 4990' }).click();
  await page.locator('#step-build-L4990.linked').waitFor();
  assert.deepEqual(errors, []);
});
