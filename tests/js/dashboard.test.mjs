// The ops dashboard in a real browser: headless Debian chromium (driven by playwright-core)
// loads the page from a running ops server, sees the partners, sees a chart redraw with new
// data, sorts and filters the table, and saves a screenshot to tests/artifacts/.
//
// FIREHOSE_OPS_SERVER names the ops_dashboard_server binary (CTest sets it). Run it directly
// (`node dashboard.test.mjs`): exit 0 on success, 1 on a failure, 77 (CTest: skipped) when
// playwright-core is not installed (scripts/test.sh runs `npm ci` here first).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

let chromium;
try {
  ({ chromium } = await import('playwright-core'));
} catch (error) {
  console.log(`skipped: playwright-core is not installed (npm ci in tests/js): ${error.message}`);
  process.exit(77);
}

const here = path.dirname(fileURLToPath(import.meta.url));
const artifacts = path.join(here, '..', 'artifacts');
const PARTNERS = 500;

function startServer() {
  const binary = process.env.FIREHOSE_OPS_SERVER;
  assert.ok(binary, 'FIREHOSE_OPS_SERVER must name the ops_dashboard_server binary');
  const child = spawn(binary, ['--partners', String(PARTNERS), '--seconds', '90', '--rate', '600'],
    { stdio: ['pipe', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('server did not start: ' + out)), 20000);
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const match = out.match(/listening on (http:\/\/\S+)/);
      if (match) {
        clearTimeout(timer);
        resolve({ child, url: match[1] });
      }
    });
    child.on('exit', (code) => reject(new Error('server exited with ' + code)));
  });
}

test('the dashboard shows every partner and live charts', { timeout: 90000 }, async () => {
  const { child, url } = await startServer();
  const profile = mkdtempSync(path.join(tmpdir(), 'firehose-chromium-'));
  let browser = null;
  try {
    // A fresh profile directory (playwright passes it as --user-data-dir).
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: '/usr/bin/chromium',
      headless: true,
      viewport: { width: 1440, height: 1000 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const page = browser.pages()[0] ?? await browser.newPage();
    const errors = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(url + '/');
    await page.waitForFunction(() => window.__ops && window.__ops.updates > 0, null, { timeout: 15000 });

    // Every partner is there: 500 in all, 50 per page.
    await page.waitForSelector('#partners-body tr');
    assert.equal(await page.textContent('#tile-partners'), String(PARTNERS));
    assert.equal(await page.locator('#partners-body tr').count(), 50);
    assert.match(await page.textContent('#page-info'), /1–50 of 500/);

    // The busiest partner is selected; its charts redraw with new data every second.
    await page.waitForFunction(() => window.__ops.chartUpdates >= 1, null, { timeout: 10000 });
    const firstUpdates = await page.evaluate(() => window.__ops.chartUpdates);
    const firstSum = await page.evaluate(() =>
      Chart.getChart('chart-volume').data.datasets[0].data.reduce((a, b) => a + b, 0));
    await page.waitForFunction((n) => window.__ops.chartUpdates >= n + 2, firstUpdates, { timeout: 10000 });
    const laterSum = await page.evaluate(() =>
      Chart.getChart('chart-volume').data.datasets[0].data.reduce((a, b) => a + b, 0));
    assert.ok(laterSum > firstSum, `the volume chart grew (${firstSum} -> ${laterSum})`);

    // Sort by error rate: the partner failing 40% comes first.
    await page.click('th[data-sort="errors"]');
    await page.waitForFunction(() =>
      document.querySelector('#partners-body tr')?.dataset.partner === 'p000', null, { timeout: 10000 });
    // Filter: one partner.
    await page.fill('#filter', 'p499');
    assert.equal(await page.locator('#partners-body tr').count(), 1);
    await page.fill('#filter', '');
    // The silent partner expected every 3 s is listed as down, with its alert.
    await page.waitForFunction(() => document.querySelector('#down')?.textContent.includes('p003'),
      null, { timeout: 10000 });
    await page.waitForFunction(() => document.querySelector('#alerts')?.textContent.includes('partner_silent'),
      null, { timeout: 10000 });
    await page.click('tr[data-partner="p000"]');
    await page.waitForFunction(() => document.querySelector('#detail-title').textContent === 'p000');
    await page.waitForTimeout(1500);

    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: path.join(artifacts, 'ops-dashboard.png'), fullPage: true });
    assert.deepEqual(errors, []);
  } finally {
    if (browser) await browser.close();
    child.stdin.end();
    child.kill('SIGTERM');
    rmSync(profile, { recursive: true, force: true });
  }
});
