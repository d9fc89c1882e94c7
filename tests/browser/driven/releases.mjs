// The releases page in Chromium, driven by the Rust test that made the releases for real
// (tests/integration/releases.rs: a real build, a real registry, rollouts on the API double).
// It opens the workflows list, follows it to the releases, and clicks "Roll back to this" on
// release ROLL_BACK_TO; it prints the rollback run's id as JSON for the Rust test to follow.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const base = process.env.CONVEYOR_BASE;
const password = process.env.CONVEYOR_ADMIN_PASSWORD;
const target = process.env.ROLL_BACK_TO;
const expectedRows = Number(process.env.EXPECT_ROWS);
const shots = process.env.SHOTS;
mkdirSync(shots, { recursive: true });

const signIn = await fetch(`${base}/api/v1/session`, {
  method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'admin', password }),
});
assert.equal(signIn.status, 200, await signIn.text());
const session = signIn.headers.get('set-cookie').match(/conveyor_session=([^;]+)/)[1];

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
});
try {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  await context.addCookies([{ name: 'conveyor_session', value: session, url: base }]);
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (err) => errors.push(err.message));

  // The workflows list, from the top bar.
  await page.goto(`${base}/`);
  await page.waitForSelector('body[data-hydrated="true"]');
  await page.click('nav a[href="/workflows"]');
  await page.waitForSelector('#workflows tr[data-workflow="web"]');
  await page.screenshot({ path: join(shots, 'workflows.png'), fullPage: true });
  await page.click('#workflows tr[data-workflow="web"] a:text("Releases")');
  await page.waitForURL(`${base}/workflows/web/releases`);
  await page.waitForSelector('#releases');

  const rows = page.locator('#releases tbody tr');
  assert.equal(await rows.count(), expectedRows);
  // Newest first; the live one is marked, and is the only one without the button.
  assert.equal(await rows.first().getAttribute('data-live'), 'true');
  assert.equal(await page.locator('#releases tr[data-live="true"]').count(), 1);
  assert.equal(await page.locator('#releases tr[data-live="true"] button.roll-back').count(), 0);
  assert.equal(await page.locator('#releases tr:has(.badge.failed) button.roll-back').count(), 0,
    'a release that never rolled out offers no rollback');
  assert.match(await page.locator('#releases tr:has(.badge.failed) .reason').first().textContent(),
    /did not roll out/);
  await page.screenshot({ path: join(shots, 'releases.png'), fullPage: true });

  await page.click(`#releases tr[data-release="${target}"] button.roll-back`);
  await page.waitForURL(/\/runs\/\d+$/);
  const run = Number(new URL(page.url()).pathname.split('/').pop());
  assert.deepEqual(errors, []);
  console.log(JSON.stringify({ run }));
} finally {
  await browser.close();
}
