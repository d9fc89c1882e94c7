// Signing in through an OpenID Connect provider, as far as a browser's part goes: the
// sign-in page offers the provider, its button leaves the app for the server's round trip
// (not a route of the app's router), the provider gets a code request with PKCE, and its
// answer comes back to the sign-in page with the reason. The provider here is a few lines
// of node: a discovery document, no keys, and an /authorize that refuses. The protocol itself (ID
// tokens, keys, nonce, accounts, roles) is tested in tests/integration/sso.rs.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { start, shots } from './harness.mjs';

const requests = [];
const provider = createServer((request, response) => {
  const url = new URL(request.url, issuer);
  requests.push(url);
  if (url.pathname === '/.well-known/openid-configuration') {
    response.setHeader('content-type', 'application/json');
    response.end(JSON.stringify({
      issuer,
      authorization_endpoint: `${issuer}/authorize`,
      token_endpoint: `${issuer}/token`,
      jwks_uri: `${issuer}/jwks`,
      response_types_supported: ['code'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['RS256'],
    }));
  } else if (url.pathname === '/jwks') {
    response.setHeader('content-type', 'application/json');
    response.end(JSON.stringify({ keys: [] }));
  } else if (url.pathname === '/authorize') {
    const back = new URL(url.searchParams.get('redirect_uri'));
    back.searchParams.set('error', 'access_denied');
    back.searchParams.set('state', url.searchParams.get('state'));
    response.writeHead(302, { location: back.toString() });
    response.end();
  } else {
    response.writeHead(404);
    response.end();
  }
});
await new Promise((resolve) => provider.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${provider.address().port}`;

const app = await start(['--oidc-issuer', issuer, '--oidc-client-id', 'conveyor', '--oidc-name', 'Test SSO']);
after(async () => {
  await app.stop();
  provider.close();
});

test('the sign-in page sends the browser through the provider and back with its answer', async () => {
  const context = await app.nobody.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await page.goto(`${app.base}/runs`);
  assert.equal(new URL(page.url()).pathname, '/login');
  await page.waitForSelector('body[data-hydrated="true"]');
  await page.screenshot({ path: join(shots, 'sso-sign-in.png') });

  await page.click('text=Sign in with Test SSO');
  await page.waitForURL((url) => url.searchParams.has('sso'));
  assert.equal(new URL(page.url()).searchParams.get('sso'), 'refused', page.url());
  const authorize = requests.find((url) => url.pathname === '/authorize');
  assert.ok(authorize, 'the browser went to the provider');
  assert.equal(authorize.searchParams.get('client_id'), 'conveyor');
  assert.equal(authorize.searchParams.get('response_type'), 'code');
  assert.equal(authorize.searchParams.get('code_challenge_method'), 'S256');
  assert.ok(authorize.searchParams.get('nonce'), 'a nonce');
  assert.equal(authorize.searchParams.get('redirect_uri'), `${app.base}/auth/oidc/callback`);
  assert.match(await page.textContent('[role=alert]'), /did not sign you in/);
  assert.equal(new URL(page.url()).searchParams.get('next'), '/');
  const cookies = await context.cookies();
  assert.ok(!cookies.some((c) => c.name === 'conveyor_session'), 'nobody is signed in');
  await page.screenshot({ path: join(shots, 'sso-refused.png') });
  assert.deepEqual(errors, []);
  await context.close();
});
