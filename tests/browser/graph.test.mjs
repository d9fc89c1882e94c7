// The stage graph draws a DAG inside one stage as a DAG (steps in columns by depth, arrows
// from each step to those that wait for it): seed 003's `my-workflow` exactly as the
// document writes it, in the editor, and a run of the same shape with its statuses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { root, serve, shots } from './harness.mjs';

const app = serve();

/** The first fenced YAML block of seed `number` that contains `marker`, as written. */
function seedYaml(number, marker) {
  const dir = join(root, '..', 'shared', 'seeds');
  const file = readdirSync(dir).find((name) => name.startsWith(`${number}_`));
  const blocks = [...readFileSync(join(dir, file), 'utf8').matchAll(/```yaml\n([\s\S]*?)\n\s*```/g)].map((m) => m[1]);
  return blocks.find((block) => block.includes(marker));
}

/** Each step node's box, and each step edge's ends, as the page drew them. */
async function drawn(page) {
  return page.evaluate(() => {
    const box = (g) => {
      const rect = g.querySelector('rect');
      return { x: +rect.getAttribute('x'), y: +rect.getAttribute('y'), w: +rect.getAttribute('width'), h: +rect.getAttribute('height') };
    };
    const nodes = Object.fromEntries([...document.querySelectorAll('svg.stage-graph g[data-step]')].map((g) => [g.dataset.step, { ...box(g), status: g.getAttribute('class') }]));
    const edges = [...document.querySelectorAll('svg.stage-graph path.step-edge')].map((path) => {
      const numbers = path.getAttribute('d').match(/-?\d+/g).map(Number);
      return { from: path.dataset.from, to: path.dataset.to, start: numbers.slice(0, 2), end: numbers.slice(-2), arrow: path.getAttribute('marker-end') };
    });
    return { nodes, edges };
  });
}

/** The card holding the graph: the SVG inside it is replaced whenever the graph is drawn
 *  again (the run's statuses arriving), the card stays. */
function graphCard(page) {
  return page.locator('section.card', { has: page.locator('svg.stage-graph') }).first();
}

function assertDag({ nodes, edges }) {
  const [s1, s2, s3, s4, s5] = ['step-1', 'step-2', 'step-3', 'step-4', 'step-5'].map((n) => nodes[n]);
  assert.ok(s1.x < s2.x && s2.x === s3.x && s3.x < s4.x && s4.x < s5.x, JSON.stringify(nodes));
  assert.ok(s2.y !== s3.y, 'the parallel pair stacks in its column');
  assert.equal(s1.y, s2.y);
  assert.equal(s4.y, s2.y);
  const expected = [['step-1', 'step-2'], ['step-1', 'step-3'], ['step-2', 'step-4'], ['step-3', 'step-4'], ['step-1', 'step-5'], ['step-4', 'step-5']];
  assert.equal(edges.length, expected.length, JSON.stringify(edges));
  for (const [from, to] of expected) {
    const edge = edges.find((e) => e.from === from && e.to === to);
    assert.ok(edge, `${from} → ${to}`);
    // From the right side of the step waited for to the left side of the one waiting.
    assert.deepEqual(edge.start, [nodes[from].x + nodes[from].w, nodes[from].y + nodes[from].h / 2]);
    assert.deepEqual(edge.end, [nodes[to].x, nodes[to].y + nodes[to].h / 2]);
    assert.equal(edge.arrow, 'url(#arrow)');
  }
}

test('seed 003\'s my-workflow draws as step-1 → {step-2, step-3} → step-4 → step-5', async () => {
  // In the editor, as the document writes it (saving it needs a cluster to watch: its
  // triggers are Kubernetes changes).
  const page = await app.browser.newPage({ viewport: { width: 1400, height: 900 } });
  await page.goto(`${app.base}/new`);
  await page.waitForSelector('body[data-hydrated="true"]');
  await page.fill('#source', seedYaml('003', 'kind: Workflow'));
  await page.waitForSelector('svg.stage-graph g[data-step="step-5"]');
  assertDag(await drawn(page));
  await graphCard(page).screenshot({ path: join(shots, 'graph-seed-003.png') });
});

test('a run of that shape draws the same, with each step\'s status', async () => {
  await app.createPipeline(`
name: dag
stages:
  - name: all
    steps:
      - {name: step-1, script: 'echo 1'}
      - {name: step-2, needs: [step-1], script: 'echo 2'}
      - {name: step-3, needs: [step-1], script: 'exit 3'}
      - {name: step-4, needs: [step-2, step-3], script: 'echo 4'}
      - {name: step-5, needs: [step-1, step-4], script: 'echo 5'}
`);
  const run = await app.runToEnd('dag', 'v1');
  const page = await app.browser.newPage({ viewport: { width: 1400, height: 900 } });
  await page.goto(`${app.base}/runs/${run.id}`);
  await page.waitForSelector('body[data-hydrated="true"]');
  await page.waitForSelector('svg.stage-graph g[data-step="step-5"]');
  const graph = await drawn(page);
  assertDag(graph);
  assert.match(graph.nodes['step-1'].status, /succeeded/);
  assert.match(graph.nodes['step-3'].status, /failed/);
  assert.match(graph.nodes['step-5'].status, /skipped|cancelled/);
  await graphCard(page).screenshot({ path: join(shots, 'graph-run.png') });
});
