// Browser tests of the definition editor: the stage graph and the YAML text kept in step,
// both ways, without losing what the user wrote.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { serve, shots } from './harness.mjs';

const app = serve();

async function open(path) {
  const page = await app.browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const errors = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await page.goto(app.base + path);
  await page.waitForSelector('body[data-hydrated="true"]');
  return { page, errors };
}

/** Waits until the YAML text area contains every given piece of text. */
async function yamlHas(page, ...pieces) {
  await page.waitForFunction(
    (wanted) => wanted.every((piece) => document.querySelector('#source').value.includes(piece)),
    pieces,
  );
}

const stageNames = (page) => page.locator('svg.stage-graph g.stage').evaluateAll((gs) => gs.map((g) => g.dataset.stage));

test('build a 3-stage pipeline in the graph and see the YAML', async () => {
  const { page, errors } = await open('/new');
  // Start from nothing but a name.
  await page.fill('#source', 'name: from-graph\nstages: []\n');
  await page.locator('#problems li', { hasText: 'a pipeline needs at least one stage' }).waitFor();

  const stages = [['build', 'compile'], ['test', 'unit'], ['deploy', 'ship']];
  for (const [stage, step] of stages) {
    await page.fill('#new-stage', stage);
    await page.click('#add-stage');
    await page.locator(`svg.stage-graph g.stage[data-stage="${stage}"]`).waitFor();
    await page.locator(`svg.stage-graph g.stage[data-stage="${stage}"] text`).click();
    await page.locator('#inspector[data-kind="stage"]').waitFor();
    await page.fill('#new-step', step);
    await page.click('#add-step');
    await page.locator(`svg.stage-graph g.node[data-step="${step}"]`).waitFor();
  }
  // Side panel: the deploy step gets an image, a script and an approval gate.
  await page.locator('svg.stage-graph g.node[data-step="ship"]').click();
  await page.locator('#inspector[data-kind="step"]').waitFor();
  await page.fill('#step-image', 'alpine:3.20');
  await page.press('#step-image', 'Enter');
  await yamlHas(page, 'image: alpine:3.20');
  await page.check('#step-approval');
  await yamlHas(page, 'approval: true');
  // Draw an edge: with `compile` picked, shift-click `ship`.
  await page.locator('svg.stage-graph g.node[data-step="compile"]').click();
  await page.locator('svg.stage-graph g.node[data-step="ship"]').click({ modifiers: ['Shift'] });
  await yamlHas(page, 'needs: [compile]');

  assert.deepEqual(await stageNames(page), ['build', 'test', 'deploy']);
  await page.waitForFunction(() => document.querySelectorAll('#problems li').length === 0);
  const yaml = await page.inputValue('#source');
  assert.match(yaml, /^name: from-graph\nstages:\n  - name: build\n    steps:\n      - name: compile\n/);
  assert.match(yaml, /  - name: deploy\n    steps:\n      - name: ship\n        script: echo "ship"\n/);
  await page.screenshot({ path: join(shots, 'editor-built-in-graph.png'), fullPage: true });

  await page.click('#save');
  await page.waitForURL(`${app.base}/pipelines/from-graph`);
  const saved = await app.api('/api/v1/pipelines/from-graph');
  assert.deepEqual(saved.plan.stages.map((s) => s.name), ['build', 'test', 'deploy']);
  const ship = saved.plan.steps.find((s) => s.name === 'ship');
  assert.equal(ship.approval, true);
  assert.ok(ship.needs.includes(saved.plan.steps.find((s) => s.name === 'compile').index));
  assert.deepEqual(errors, []);
});

const COMMENTED = `# Release pipeline: keep these notes.
name: commented
stages:
  - name: build   # the only stage that compiles
    steps:
      - name: compile
        # cached between runs
        script: make
  - name: test
    steps:
      - name: unit
        script: make test
`;

test('edit the YAML and see the graph follow', async () => {
  await app.createPipeline(COMMENTED.replace('name: commented', 'name: typed'));
  const { page, errors } = await open('/pipelines/typed');
  assert.deepEqual(await stageNames(page), ['build', 'test']);
  const yaml = await page.inputValue('#source');
  await page.fill('#source', yaml.replace('  - name: test\n', '  - name: verify\n') + '      - name: lint\n        parallel: true\n        script: make lint\n');
  await page.locator('svg.stage-graph g.node[data-step="lint"]').waitFor();
  await page.locator('svg.stage-graph g.stage[data-stage="verify"]').waitFor();
  assert.deepEqual(await stageNames(page), ['build', 'verify']);
  // The graph's side panel reads the typed values too.
  await page.locator('svg.stage-graph g.node[data-step="lint"]').click();
  assert.equal(await page.isChecked('#step-parallel'), true);
  assert.equal(await page.inputValue('#step-script'), 'make lint');
  await page.screenshot({ path: join(shots, 'editor-yaml-to-graph.png'), fullPage: true });
  assert.deepEqual(errors, []);
});

test('comments and key order survive a graph edit elsewhere', async () => {
  await app.createPipeline(COMMENTED);
  const { page, errors } = await open('/pipelines/commented');
  await page.locator('svg.stage-graph g.node[data-step="unit"]').click();
  await page.fill('#step-timeout', '5m');
  await page.press('#step-timeout', 'Enter');
  await yamlHas(page, '        script: make test\n        timeout: 5m\n');
  await page.fill('#step-name', 'unit-tests');
  await page.press('#step-name', 'Enter');
  await yamlHas(page, '      - name: unit-tests\n');
  // Everything the graph did not touch is byte for byte what the user wrote.
  const expected = COMMENTED.replace('- name: unit\n', '- name: unit-tests\n') + '        timeout: 5m\n';
  assert.equal(await page.inputValue('#source'), expected);
  await page.click('#save');
  await page.locator('.page-head', { hasText: 'version 2' }).waitFor();
  const versions = await app.api('/api/v1/pipelines/commented/versions');
  const latest = versions.find((v) => v.version === 2) ?? versions[0];
  assert.equal(latest.source, expected);
  await page.screenshot({ path: join(shots, 'editor-comments-kept.png'), fullPage: true });
  assert.deepEqual(errors, []);
});

test('a validation error shows at its node and its YAML line', async () => {
  await app.createPipeline(COMMENTED.replace('name: commented', 'name: checked'));
  const { page, errors } = await open('/pipelines/checked');
  const yaml = await page.inputValue('#source');
  await page.fill('#source', yaml.replace('        script: make test\n', '        needs: [compil]\n        script: make test\n'));
  const node = page.locator('svg.stage-graph g.node.invalid[data-step="unit"]');
  await node.waitFor();
  assert.match(await node.locator('title').textContent(), /unknown step "compil" \(did you mean "compile"\?\)/);
  assert.equal(await page.locator('svg.stage-graph g.node.invalid').count(), 1, 'only the step at fault is marked');
  // The line: `needs` is line 12 of the text; the gutter marks it and the problem names it.
  const problem = page.locator('#problems li[data-line="12"]');
  await problem.waitFor();
  assert.match(await problem.textContent(), /^line 12: stages\[1\]\.steps\[0\]\.needs: unknown step/);
  assert.deepEqual(await page.locator('.gutter span.bad').allTextContents(), ['12']);
  // Clicking the node shows the problem in the side panel; clicking the problem selects the line.
  await node.click();
  assert.match(await page.locator('#step-problem').textContent(), /unknown step "compil"/);
  await problem.locator('button').click();
  const selected = await page.evaluate(() => {
    const area = document.querySelector('#source');
    return area.value.slice(area.selectionStart, area.selectionEnd);
  });
  assert.equal(selected, '        needs: [compil]');
  await page.screenshot({ path: join(shots, 'editor-error-at-node.png'), fullPage: true });
  // Fixing the text clears the mark.
  await page.fill('#source', yaml);
  await page.waitForFunction(() => document.querySelectorAll('svg.stage-graph g.node.invalid').length === 0);
  assert.deepEqual(errors, []);
});
