// Shared by the browser tests: the real server binary on 127.0.0.1:0 with a fresh data
// directory, Debian's Chromium (every page signed in as the first admin, unless a test asks
// for a browser of nobody), the REST API with an admin's token, and where screenshots go.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { before, after } from 'node:test';
import { chromium } from 'playwright-core';

export const root = resolve(import.meta.dirname, '../..');
export const shots = join(root, 'target', 'screenshots');
// cargo honours CARGO_TARGET_DIR for binaries; the site always lands in target/site.
const binaries = process.env.CARGO_TARGET_DIR ?? join(root, 'target');

/** How long a wait or a navigation may take before a test fails. */
const WAIT = 120_000;

/** Starts a server (with `serve`'s extra `args`) and a browser; `stop()` ends both and
 *  removes the data. */
export async function start(args = []) {
  const dataDir = mkdtempSync(join(tmpdir(), 'conveyor-browser-'));
  const binary = process.env.CONVEYOR_BIN ?? join(binaries, 'debug', 'conveyor');
  const child = spawn(binary, ['serve', '--bind', '127.0.0.1:0', '--data-dir', dataDir, '--site-root', join(root, 'target', 'site'), ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const base = await new Promise((resolvePromise, reject) => {
    let seen = '';
    child.stdout.on('data', (chunk) => {
      seen += chunk;
      const match = seen.match(/conveyor listening on (http:\/\/[\d.:]+)/);
      if (match) resolvePromise(match[1]);
    });
    child.on('exit', (code) => reject(new Error(`server exited early with ${code}`)));
  });
  const nobody = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  // Waits and navigations get two minutes (Playwright's own default is 30 s): on a loaded
  // CI machine a debug build's pages can take long to hydrate, and a run long to end.
  const newContext = nobody.newContext.bind(nobody);
  nobody.newContext = async (options) => {
    const context = await newContext(options);
    context.setDefaultTimeout(WAIT);
    // What a page says went wrong reaches the test's output: a page that never hydrates
    // then says why.
    context.on('page', (page) => {
      page.on('pageerror', (error) => console.error(`[${page.url()}] page error: ${error.stack ?? error.message}`));
      page.on('console', (message) => {
        if (message.type() === 'error') console.error(`[${page.url()}] console error: ${message.text()}`);
      });
      // (A page left before it loaded aborts its requests: that says nothing.)
      page.on('requestfailed', (request) => {
        const why = request.failure()?.errorText;
        if (why !== 'net::ERR_ABORTED') console.error(`[${page.url()}] request failed: ${request.url()} ${why}`);
      });
    });
    return context;
  };
  nobody.newPage = async (options) => {
    const context = await nobody.newContext(options);
    const page = await context.newPage();
    page.on('close', () => context.close().catch(() => {}));
    return page;
  };
  mkdirSync(shots, { recursive: true });

  // The first admin: its password is in the data directory; its token for the API comes
  // from the server's shell, as a script's would.
  const adminPassword = readFileSync(join(dataDir, 'initial-admin-password'), 'utf8').trim();
  const token = execFileSync(binary, ['token', 'create', '--user', 'admin', '--scope', 'admin', '--name', 'browser tests',
    '--data-dir', dataDir], { encoding: 'utf8' }).trim();
  const authorization = { authorization: `Bearer ${token}` };

  /** Signs in through the API; the session cookie's value. */
  async function signIn(name, password) {
    const response = await fetch(`${base}/api/v1/session`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name, password }),
    });
    if (!response.ok) throw new Error(`sign-in of ${name}: ${response.status} ${await response.text()}`);
    return response.headers.get('set-cookie').match(/conveyor_session=([^;]+)/)[1];
  }

  /** A browser whose pages and contexts are signed in with a session of their own. */
  function signedIn(name, password) {
    const newContext = async (options = {}) => {
      const context = await nobody.newContext(options);
      await context.addCookies([{ name: 'conveyor_session', value: await signIn(name, password), url: base }]);
      return context;
    };
    const newPage = async (options = {}) => {
      const context = await newContext(options);
      const page = await context.newPage();
      // When the browser itself closes first (at the end of a file), its contexts are gone
      // already: nothing is left to close.
      page.on('close', () => context.close().catch(() => {}));
      return page;
    };
    return { newContext, newPage };
  }
  const browser = signedIn('admin', adminPassword);

  async function api(path, options = {}) {
    const response = await fetch(base + path, { ...options, headers: { ...authorization, ...options.headers } });
    const body = await response.json();
    if (!response.ok) throw new Error(`${path}: ${response.status} ${JSON.stringify(body)}`);
    return body;
  }

  /** Saves a pipeline (YAML or JSON text) through the API. */
  async function createPipeline(source) {
    return api('/api/v1/pipelines', { method: 'POST', headers: { 'content-type': 'application/yaml' }, body: source });
  }

  /** Starts a run through the API. */
  async function startRun(pipeline, tag, params = {}) {
    return api(`/api/v1/pipelines/${pipeline}/runs`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ tag, params }),
    });
  }

  /** Starts a run through the API and waits for its end on the event stream. */
  async function runToEnd(pipeline, tag, params = {}) {
    const run = await startRun(pipeline, tag, params);
    const events = await (await fetch(`${base}/api/v1/runs/${run.id}/events`, { headers: authorization })).text();
    if (!events.includes('event: end')) throw new Error(`run ${run.id} did not end: ${events}`);
    return run;
  }

  async function stop() {
    await nobody.close();
    child.kill('SIGTERM');
    rmSync(dataDir, { recursive: true, force: true });
  }

  return { base, browser, nobody, signedIn, adminPassword, authorization, api, createPipeline, startRun, runToEnd, stop };
}

/** For a test file: a server and browser started before its tests and stopped after them.
 *  The returned object gets `base`, `browser` (signed in as the first admin), `nobody` (a
 *  browser signed in as no one), `signedIn(name, password)`, `adminPassword`,
 *  `authorization` (the API token's header), `api`, `createPipeline`, `startRun` and
 *  `runToEnd` once started. */
export function serve() {
  const app = {};
  before(async () => {
    Object.assign(app, await start());
  });
  after(async () => {
    await app.stop?.();
  });
  return app;
}
