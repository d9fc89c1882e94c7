// Browser tests of a workflow's deployment settings: the form, its image-tag preview, and
// saving with and without WASM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { serve, shots } from './harness.mjs';

const app = serve();

const SECRET = 'hunter2-registry';

/** Fills the source and image fields of the new-workflow form. */
async function fillBasics(page, name, image, password = 'pw') {
  await page.fill('input[name="form[name]"]', name);
  await page.fill('input[name="form[git_url]"]', `https://git.example/${name}.git`);
  await page.fill('input[name="form[image_name]"]', image);
  await page.fill('input[name="form[image_username]"]', 'bot');
  await page.fill('input[name="form[image_password]"]', password);
}

test('deployment settings: form, tag preview, save, and nothing secret comes back', async () => {
  const page = await app.browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const errors = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await page.goto(`${app.base}/new/workflow`);
  await page.waitForSelector('body[data-hydrated="true"]');

  await fillBasics(page, 'shop', 'registry.example/shop', SECRET);
  await page.fill('input[name="form[replicas]"]', '2');
  const first = page.locator('fieldset.container-row').first();
  await first.locator('input[name$="[name]"]').fill('web');
  await first.locator('input[name$="[image]"]').fill('registry.example/shop:latest');
  await first.locator('textarea[name$="[ports]"]').fill('8080/TCP http');
  await first.locator('textarea[name$="[env]"]').fill('MODE=prod');
  // A second container that does not name the repository keeps its image.
  await page.click('#add-container');
  const second = page.locator('fieldset.container-row').nth(1);
  await second.locator('input[name$="[name]"]').fill('cache');
  await second.locator('input[name$="[image]"]').fill('redis:7');
  // A third, added and removed again, leaves nothing behind.
  await page.click('#add-container');
  await page.locator('fieldset.container-row').nth(2).locator('input[name$="[name]"]').fill('gone');
  await page.locator('fieldset.container-row').nth(2).getByRole('button', { name: 'Remove container' }).click();
  await page.click('#add-volume');
  await page.locator('.volume-row input[name$="[name]"]').fill('data');
  await page.locator('.volume-row input[name$="[size]"]').fill('1Gi');
  await first.locator('textarea[name$="[mounts]"]').fill('data=/var/data');
  await page.selectOption('#service-type', 'NodePort');
  await page.fill('textarea[name="form[service_ports]"]', '80:8080:30080');

  // The preview applies the substitution rule as you type.
  await page.fill('#preview-tag', 'v1.4.0');
  assert.equal(await page.textContent('#pushed-image'), 'registry.example/shop:v1.4.0');
  assert.equal(await page.locator('#image-changes li[data-container="web"] code.to').textContent(), 'registry.example/shop:v1.4.0');
  assert.match(await page.locator('#image-changes li[data-container="cache"]').textContent(), /redis:7 \(kept/);
  assert.equal(await page.locator('#image-changes li[data-container="gone"]').count(), 0);
  await page.screenshot({ path: join(shots, 'workflow-settings.png'), fullPage: true });

  await page.click('#save-workflow');
  await page.waitForURL(`${app.base}/workflows/shop`);
  await page.waitForFunction(() => document.querySelector('#workflow-version')?.textContent === 'version 1');
  const saved = await app.api('/api/v1/workflows/shop');
  assert.equal(saved.workflow.image.password, '********');
  assert.deepEqual(saved.workflow.deploy, {
    replicas: 2,
    containers: [
      { name: 'web', image: 'registry.example/shop:latest', ports: [{ port: 8080, name: 'http', protocol: 'TCP' }], env: { MODE: 'prod' }, mounts: { data: '/var/data' } },
      { name: 'cache', image: 'redis:7' },
    ],
    volumes: [{ name: 'data', size: '1Gi' }],
    service: { type: 'NodePort', ports: [{ port: 80, targetPort: 8080, nodePort: 30080 }] },
  });
  // The saved form reads back as it was typed; the password stays masked and is kept on save.
  await page.waitForSelector('body[data-hydrated="true"]');
  assert.equal(await page.inputValue('input[name="form[image_password]"]'), '********');
  assert.equal(await page.locator('fieldset.container-row').count(), 2);
  assert.ok(!(await page.content()).includes(SECRET), 'the password never comes back to the browser');
  // A save the server refuses says why and keeps what was typed.
  const ports = page.locator('fieldset.container-row').first().locator('textarea[name$="[ports]"]');
  await ports.fill('http');
  await page.click('#save-workflow');
  await page.locator('#workflow-form ~ .error').waitFor();
  assert.match(await page.textContent('#workflow-form ~ .error'), /ports.*"http" is not PORT/);
  assert.equal(await ports.inputValue(), 'http');
  assert.equal(await page.textContent('#workflow-version'), 'version 1');
  await ports.fill('8080/TCP http');
  await page.fill('input[name="form[replicas]"]', '3');
  await page.click('#save-workflow');
  // The page reloads what was saved: the new version, with the new value.
  await page.waitForFunction(() => document.querySelector('#workflow-version')?.textContent === 'version 2');
  assert.equal(await page.inputValue('input[name="form[replicas]"]'), '3');
  const updated = await app.api('/api/v1/workflows/shop');
  assert.equal(updated.workflow.deploy.replicas, 3);
  assert.equal(updated.workflow.image.password, '********');
  await page.screenshot({ path: join(shots, 'workflow-saved.png'), fullPage: true });

  // The pipeline page of a workflow points to these settings instead of a YAML editor.
  await page.goto(`${app.base}/pipelines/shop`);
  await page.locator('#deployment-settings').waitFor();
  assert.equal(await page.locator('#source').count(), 0);
  assert.deepEqual(errors, []);
});

test('the form saves as a plain POST without WASM, and bad fields say where', async () => {
  const context = await app.browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto(`${app.base}/new/workflow`);
  await fillBasics(page, 'plain', 'org/plain');
  await page.fill('input[name="form[containers][0][name]"]', 'app');
  await page.fill('input[name="form[containers][0][image]"]', 'org/plain:1');
  await page.click('#save-workflow');
  await page.waitForURL(`${app.base}/workflows/plain`);
  const saved = await app.api('/api/v1/workflows/plain');
  assert.deepEqual(saved.workflow.deploy.containers, [{ name: 'app', image: 'org/plain:1' }]);
  await context.close();

  // With WASM, a field that does not read is an error naming its place.
  const live = await app.browser.newPage();
  await live.goto(`${app.base}/new/workflow`);
  await live.waitForSelector('body[data-hydrated="true"]');
  await fillBasics(live, 'broken', 'org/b');
  await live.fill('input[name="form[containers][0][name]"]', 'app');
  await live.fill('input[name="form[containers][0][image]"]', 'org/b:1');
  await live.fill('textarea[name="form[containers][0][ports]"]', 'http');
  await live.click('#save-workflow');
  await live.locator('.error', { hasText: 'deploy.containers[0].ports: "http" is not PORT[/PROTOCOL] [NAME]' }).waitFor();
  assert.equal(live.url(), `${app.base}/new/workflow`);
});
