// Shared by the browser tests: the real server binary on 127.0.0.1:0 with a fresh data
// directory, Debian's Chromium, the REST API, and where screenshots go.
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { before, after } from 'node:test';
import { chromium } from 'playwright-core';

export const root = resolve(import.meta.dirname, '../..');
export const shots = join(root, 'target', 'screenshots');
// cargo honours CARGO_TARGET_DIR for binaries; the site always lands in target/site.
const binaries = process.env.CARGO_TARGET_DIR ?? join(root, 'target');

/** Starts a server and a browser; `stop()` ends both and removes the data. */
export async function start() {
  const dataDir = mkdtempSync(join(tmpdir(), 'conveyor-browser-'));
  const binary = process.env.CONVEYOR_BIN ?? join(binaries, 'debug', 'conveyor');
  const child = spawn(binary, ['serve', '--bind', '127.0.0.1:0', '--data-dir', dataDir, '--site-root', join(root, 'target', 'site')], {
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
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  mkdirSync(shots, { recursive: true });

  async function api(path, options = {}) {
    const response = await fetch(base + path, options);
    const body = await response.json();
    if (!response.ok) throw new Error(`${path}: ${response.status} ${JSON.stringify(body)}`);
    return body;
  }

  /** Saves a pipeline (YAML or JSON text) through the API. */
  async function createPipeline(source) {
    return api('/api/v1/pipelines', { method: 'POST', body: source });
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
    const events = await (await fetch(`${base}/api/v1/runs/${run.id}/events`)).text();
    if (!events.includes('event: end')) throw new Error(`run ${run.id} did not end: ${events}`);
    return run;
  }

  async function stop() {
    await browser.close();
    child.kill('SIGTERM');
    rmSync(dataDir, { recursive: true, force: true });
  }

  return { base, browser, api, createPipeline, startRun, runToEnd, stop };
}

/** For a test file: a server and browser started before its tests and stopped after them.
 *  The returned object gets `base`, `browser`, `api`, `createPipeline`, `startRun` and
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
