// Browser tests of accounts: a person who is not signed in is sent to the sign-in page and
// back where they were going; a wrong password says so; signing out ends the session; a
// viewer sees the run form but may not use it. Real server binary, real Chromium.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { serve, shots } from './harness.mjs';

const app = serve();

const HELLO = `
name: hello
stages:
  - name: build
    steps:
      - name: say
        script: echo hello
`;

test('sign in from a link, land where it pointed, sign out', async () => {
  await app.createPipeline(HELLO);
  const context = await app.nobody.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (err) => errors.push(err.message));

  await page.goto(`${app.base}/pipelines/hello/history?status=failed`);
  assert.equal(new URL(page.url()).pathname, '/login', 'a page of the site needs an account');
  assert.equal(new URL(page.url()).searchParams.get('next'), '/pipelines/hello/history?status=failed');
  await page.waitForSelector('body[data-hydrated="true"]');
  await page.screenshot({ path: join(shots, 'login.png'), fullPage: true });

  await page.fill('input[name=name]', 'admin');
  await page.fill('input[name=password]', 'not the password');
  await page.click('button[type=submit]');
  await page.locator('.login .error', { hasText: 'wrong account name or password' }).waitFor();
  assert.equal(new URL(page.url()).searchParams.get('next'), '/pipelines/hello/history?status=failed',
    'a refused sign-in still knows where it was going');
  await page.screenshot({ path: join(shots, 'login-refused.png'), fullPage: true });

  await page.fill('input[name=name]', 'admin');
  await page.fill('input[name=password]', app.adminPassword);
  await page.click('button[type=submit]');
  await page.waitForURL((url) => url.pathname === '/pipelines/hello/history');
  assert.equal(new URL(page.url()).searchParams.get('status'), 'failed');
  await page.waitForSelector('body[data-hydrated="true"]');
  assert.equal(await page.locator('.topbar .who').innerText(), 'admin');
  const cookie = (await context.cookies()).find((c) => c.name === 'conveyor_session');
  assert.ok(cookie.httpOnly, 'scripts cannot read the session cookie');
  assert.equal(cookie.sameSite, 'Lax');

  await page.click('.topbar .sign-out button');
  await page.waitForURL((url) => url.pathname === '/login');
  await page.goto(`${app.base}/`);
  assert.equal(new URL(page.url()).pathname, '/login', 'signed out: the session no longer works');
  await page.waitForSelector('body[data-hydrated="true"]');
  // The old cookie, replayed, opens nothing either.
  const replay = await fetch(`${app.base}/api/v1/session`, { headers: { cookie: `conveyor_session=${cookie.value}` } });
  assert.equal(replay.status, 401);
  assert.deepEqual(errors, []);
  await context.close();
});

test('signing in works without JavaScript', async () => {
  const context = await app.nobody.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto(`${app.base}/history`);
  assert.equal(new URL(page.url()).pathname, '/login');
  await page.fill('input[name=name]', 'admin');
  await page.fill('input[name=password]', 'still not it');
  await page.click('button[type=submit]');
  await page.locator('.login .error', { hasText: 'wrong account name or password' }).waitFor();
  await page.fill('input[name=name]', 'admin');
  await page.fill('input[name=password]', app.adminPassword);
  await page.click('button[type=submit]');
  await page.waitForURL((url) => url.pathname === '/history');
  assert.equal(await page.locator('.topbar .who').innerText(), 'admin');
  await context.close();
});

test('a viewer sees the run form disabled, and why', async () => {
  await app.api('/api/v1/users', {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'vic', role: 'viewer', password: 'a long enough password' }),
  });
  const viewer = app.signedIn('vic', 'a long enough password');
  const page = await viewer.newPage();
  await page.goto(`${app.base}/pipelines/hello`);
  await page.waitForSelector('body[data-hydrated="true"]');
  assert.equal(await page.locator('.topbar .who').innerText(), 'vic');
  assert.ok(await page.locator('#run-button').isDisabled(), 'a viewer may not start runs');
  await page.locator('#run-form .denied-why', { hasText: 'developer role' }).waitFor();
  await page.screenshot({ path: join(shots, 'viewer-run-form.png'), fullPage: true });

  // The server refuses the call itself, whatever the page shows.
  const cookie = (await page.context().cookies()).find((c) => c.name === 'conveyor_session');
  const forced = await fetch(`${app.base}/_sfn/start_run`, {
    method: 'POST',
    headers: { cookie: `conveyor_session=${cookie.value}`, origin: app.base, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'pipeline=hello&tag=v1',
  });
  assert.equal(forced.status, 403);
  const runs = await app.api('/api/v1/pipelines/hello/runs');
  assert.equal(runs.runs.length, 0, 'no run started');
  await page.close();
});

test('every page hydrates and runs under its Content-Security-Policy', async () => {
  const run = await app.runToEnd('hello', 'v9');
  const page = await app.browser.newPage();
  const violations = [];
  page.on('console', (message) => {
    if (/Content.Security.Policy/i.test(message.text())) violations.push(message.text());
  });
  page.on('pageerror', (err) => violations.push(err.message));
  for (const path of ['/', '/new', '/pipelines/hello', `/runs/${run.id}`, '/history', '/pipelines/hello/versions', '/new/workflow']) {
    const response = await page.goto(app.base + path);
    assert.match(response.headers()['content-security-policy'], /script-src 'self' 'nonce-[\w-]+' 'wasm-unsafe-eval'/, path);
    await page.waitForSelector('body[data-hydrated="true"]');
  }
  // A live page keeps working under it: the run page's log arrived over SSE.
  await page.goto(`${app.base}/runs/${run.id}`);
  await page.locator('#log .line', { hasText: 'hello' }).first().waitFor();
  assert.deepEqual(violations, []);
  await page.close();
});

const GATED = `
name: gated
stages:
  - name: build
    steps:
      - {name: build, script: 'echo built'}
  - name: ship
    steps:
      - name: gate
        approval: true
        approval_params: {approvers: carol, four_eyes: 'true'}
        script: echo shipped
`;

test('sign in, run, meet a gate only someone else may approve, sign out; the approver approves', async () => {
  await app.createPipeline(GATED);
  for (const name of ['dave', 'carol']) {
    await app.api('/api/v1/users', {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name, role: 'developer', password: 'a long enough password' }),
    });
  }
  const context = await app.nobody.newContext();
  const page = await context.newPage();
  await page.goto(`${app.base}/pipelines/gated`);
  await page.waitForSelector('body[data-hydrated="true"]');
  await page.fill('input[name=name]', 'dave');
  await page.fill('input[name=password]', 'a long enough password');
  await page.click('button[type=submit]');
  await page.waitForURL((url) => url.pathname === '/pipelines/gated');
  await page.waitForSelector('body[data-hydrated="true"]');
  await page.fill('#tag', 'v2.0.0');
  await page.click('#run-button');
  await page.waitForURL(/\/runs\/\d+$/);
  const runPath = new URL(page.url()).pathname;
  await page.locator('#steps tr[data-step="gate"][data-status="waiting_approval"]').waitFor();
  assert.equal(await page.locator('#run-started-by').innerText(), 'started by dave');
  const approve = page.locator('#steps tr[data-step="gate"] button', { hasText: 'Approve' });
  assert.ok(await approve.isDisabled(), 'dave is not an approver');
  assert.match(await page.locator('#steps tr[data-step="gate"] .gate-why').innerText(), /not one of this step's approvers \(carol\)/);
  assert.match(await page.locator('#steps tr[data-step="gate"] .gate-who').innerText(), /approvers: carol · not the one who started it/);
  await page.screenshot({ path: join(shots, 'gate-not-yours.png'), fullPage: true });
  // The server refuses it too, whatever the page offers.
  const forced = await page.evaluate(async (path) => {
    const csrf = document.querySelector('meta[name="csrf-token"]').content;
    const id = path.split('/').pop();
    const response = await fetch(`/api/v1/runs/${id}/steps/gate/approve`, { method: 'POST', headers: { 'x-csrf-token': csrf } });
    return [response.status, (await response.json()).message];
  }, runPath);
  assert.equal(forced[0], 403);
  assert.match(forced[1], /not one of this step's approvers/);
  await page.click('.topbar .sign-out button');
  await page.waitForURL((url) => url.pathname === '/login');
  await context.close();

  const carol = await app.signedIn('carol', 'a long enough password').newPage();
  await carol.goto(app.base + runPath);
  await carol.waitForSelector('body[data-hydrated="true"]');
  const approveAsCarol = carol.locator('#steps tr[data-step="gate"] button', { hasText: 'Approve' });
  assert.ok(await approveAsCarol.isEnabled());
  await approveAsCarol.click();
  await carol.locator('#run-status .badge', { hasText: /succeeded/i }).waitFor();
  assert.equal(await carol.locator('#steps tr[data-step="gate"]').getAttribute('data-status'), 'succeeded');
  await carol.reload();
  await carol.locator('#decisions li[data-step="gate"]', { hasText: 'approved by carol' }).waitFor();
  await carol.screenshot({ path: join(shots, 'gate-decided.png'), fullPage: true });
  await carol.close();
});

test('the account page makes a token shown once, revokes it, and an admin adds an account', async () => {
  const page = await app.browser.newPage();
  await page.goto(`${app.base}/`);
  await page.click('.topbar .who');
  await page.waitForURL((url) => url.pathname === '/account');
  await page.waitForSelector('body[data-hydrated="true"]');
  await page.fill('#token-form input[name=name]', 'deploy script');
  await page.selectOption('#token-form select[name=scope]', 'read');
  await page.click('#token-form button[type=submit]');
  const token = (await page.locator('#new-token').innerText()).trim();
  assert.match(token, /^cvy_/);
  await page.locator('#tokens tr[data-token="deploy script"]').waitFor();
  const asToken = (path) => fetch(app.base + path, { headers: { authorization: `Bearer ${token}` } });
  assert.equal((await asToken('/api/v1/pipelines')).status, 200, 'the new token works');
  await page.screenshot({ path: join(shots, 'account-token.png'), fullPage: true });
  await page.locator('#tokens tr[data-token="deploy script"] button', { hasText: 'Revoke' }).click();
  await page.locator('#tokens tr[data-token="deploy script"]').waitFor({ state: 'detached' });
  assert.equal((await asToken('/api/v1/pipelines')).status, 401, 'revoked: it stops working');
  await page.reload();
  assert.equal(await page.locator('#new-token').count(), 0, 'never shown again');
  // Hydrated before the form is used: posted without WASM, the made password is not shown.
  await page.waitForSelector('body[data-hydrated="true"]');

  // An admin adds an account; its generated password is shown once and signs in.
  await page.fill('#add-user input[name=name]', 'erin');
  await page.selectOption('#add-user select[name=role]', 'viewer');
  await page.click('#add-user button[type=submit]');
  const password = (await page.locator('#new-password').innerText()).trim();
  await page.locator('#accounts tr[data-user="erin"]').waitFor();
  await page.screenshot({ path: join(shots, 'account-admin.png'), fullPage: true });
  const erin = await app.signedIn('erin', password).newPage();
  await erin.goto(`${app.base}/account`);
  await erin.waitForSelector('body[data-hydrated="true"]');
  assert.match(await erin.locator('#me').innerText(), /erin \(viewer\)/);
  assert.equal(await erin.locator('#accounts').count(), 0, 'only admins see the accounts');
  // Erin changes her password: her sessions end, and the new one signs in.
  await erin.fill('#password-form input[name=current]', password);
  await erin.fill('#password-form input[name=password]', 'erin has a new password');
  await erin.click('#password-form button[type=submit]');
  await erin.waitForURL((url) => url.pathname === '/login');
  await app.signedIn('erin', 'erin has a new password').newPage().then((p) => p.close());
  await erin.close();
  await page.close();
});
