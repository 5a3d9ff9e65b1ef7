import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { repoRoot } from '../testing/fixtures.js';
import { sampleReport } from './sample.js';
import { writeReport } from './write.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

test('report.html renders its charts in headless Chromium without console errors', { timeout: 60_000 }, async (t) => {
  if (!fs.existsSync(CHROMIUM)) { t.skip(`${CHROMIUM} not found: install Debian's chromium (apt-get install chromium) to run this test`); return; }
  const { chromium } = await import('playwright-core');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quantlab-html-'));
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'quantlab-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, args: ARGS, headless: true, viewport: { width: 1400, height: 1500 }, offline: true });
  try {
    writeReport(dir, sampleReport());
    const page = ctx.pages()[0] ?? await ctx.newPage();
    const problems: string[] = [];
    page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`console.${m.type()}: ${m.text()}`); });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('request', (r) => { if (!r.url().startsWith('file:')) problems.push(`network request: ${r.url()}`); });
    await page.goto(pathToFileURL(path.join(dir, 'report.html')).href);
    await page.waitForSelector('body[data-charts="4"]', { timeout: 15_000 });
    const charts = await page.evaluate(() => [...document.querySelectorAll('canvas')].map((c) => {
      const g = c.getContext('2d')!;
      const px = g.getImageData(0, 0, c.width, c.height).data;
      let inked = 0;
      for (let i = 3; i < px.length; i += 4) if (px[i] > 0) inked++;
      // Chart.js keeps its instances reachable from the canvas.
      const chart = (window as unknown as { Chart: { getChart(c: HTMLCanvasElement): { data: { datasets: { data: unknown[] }[] } } | undefined } }).Chart.getChart(c);
      return { id: c.id, width: c.width, inked, datasets: chart?.data.datasets.length ?? 0, points: chart?.data.datasets.reduce((s, d) => s + d.data.length, 0) ?? 0 };
    }));
    const artifacts = path.join(repoRoot, 'test-artifacts');
    fs.mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: path.join(artifacts, 'report.png'), fullPage: true });
    assert.deepEqual(problems, []);
    assert.deepEqual(charts.map((c) => c.id), ['ppl-size', 'kld-size', 'ppl-decode', 'speedups']);
    for (const c of charts) {
      assert.ok(c.width > 100, `${c.id} has a size`);
      assert.ok(c.inked > 5000, `${c.id} has drawn pixels (${c.inked})`);
    }
    // 6 methods + the Pareto front line; the front on perplexity vs size joins all 6 points. KLD vs
    // size: FP32 (KLD 0) is not drawn on the log axis, the other 5 and their front.
    assert.deepEqual(charts.slice(0, 3).map((c) => c.datasets), [7, 6, 7]);
    assert.equal(charts[0].points, 12);
    assert.equal(charts[1].points, 10);
    assert.deepEqual([charts[3].datasets, charts[3].points], [2, 12]);
    assert.ok(fs.statSync(path.join(artifacts, 'report.png')).size > 20_000, 'screenshot saved');
  } finally {
    await ctx.close();
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(profile, { recursive: true, force: true });
  }
});
