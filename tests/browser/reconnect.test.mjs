// The run page survives a dropped connection: a TCP proxy between Chromium and the server
// cuts every connection mid-run; the page reconnects by itself (EventSource with
// Last-Event-ID) and ends with every log line exactly once, in order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect } from 'node:net';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve, shots } from './harness.mjs';

const app = serve();

/** A TCP proxy on 127.0.0.1:0 to the server that can cut every open connection. */
async function proxy(target) {
  const { hostname, port } = new URL(target);
  const sockets = new Set();
  let connections = 0;
  const server = createServer((client) => {
    connections += 1;
    const upstream = connect(Number(port), hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    connections: () => connections,
    cut() {
      for (const s of sockets) s.destroy();
    },
    close: () => new Promise((resolve) => { server.close(resolve); for (const s of sockets) s.destroy(); }),
  };
}

test('the run page reconnects after a network drop without losing or repeating lines', async () => {
  const gateDir = mkdtempSync(join(tmpdir(), 'conveyor-gate-'));
  const gate = join(gateDir, 'open');
  await app.createPipeline(`
name: dropped
stages:
  - name: talk
    steps:
      - name: talk
        script: |
          i=1; while [ $i -le 200 ]; do echo "line-$i"; i=$((i+1)); done
          while [ ! -f "$GATE" ]; do sleep 0.02; done
          i=201; while [ $i -le 400 ]; do echo "line-$i"; i=$((i+1)); done
`);
  const run = await app.startRun('dropped', 'v1', { GATE: gate });
  const via = await proxy(app.base);
  const page = await app.browser.newPage();
  const errors = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await page.goto(`${via.url}/runs/${run.id}`);
  await page.waitForSelector('body[data-hydrated="true"]');
  await page.locator('#log .line', { hasText: 'line-200' }).waitFor();
  const before = via.connections();

  via.cut();
  // Lines written while the page is disconnected must arrive after it reconnects.
  writeFileSync(gate, 'go');
  await page.locator('#run-status .badge', { hasText: /succeeded/i }).waitFor();
  assert.ok(via.connections() > before, 'the page opened a new connection after the cut');

  // Every line once, in order: 400 lines, and line N of the step reads `line-N` (a lost
  // line would leave 399 and shift the numbers; a repeated one, 401). The viewer only keeps
  // the lines in view in the page, so go to each checked line by its permalink.
  await page.locator('#log-count', { hasText: /^400 lines$/ }).waitFor();
  for (const n of [1, 199, 200, 201, 202, 300, 400]) {
    await page.evaluate((k) => { window.location.hash = `#step-talk-L${k}`; }, n);
    const line = page.locator(`#step-talk-L${n}`);
    await line.waitFor();
    assert.match(await line.innerText(), new RegExp(`^${n}\\s*talk\\s*line-${n}$`));
  }
  await page.screenshot({ path: join(shots, 'run-after-reconnect.png'), fullPage: true });
  assert.deepEqual(errors, []);
  await page.close();
  await via.close();
  rmSync(gateDir, { recursive: true, force: true });
});
