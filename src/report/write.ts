import { writeAll, writeError } from '../util/fsx.js';
import fs from 'node:fs';
import path from 'node:path';
import { renderCsv } from './csv.js';
import { renderHtml } from './html.js';
import { renderMarkdown } from './markdown.js';
import type { BenchReport } from './schema.js';

export const REPORT_FILES = ['report.md', 'report.json', 'report.csv', 'report.html'] as const;

/**
 * Write report.{md,json,csv,html} into `dir`. Everything is rendered first, then each file goes to a
 * temporary name and all are renamed at the end (synchronously, so a Ctrl-C handled by the event
 * loop cannot land in between): a report is never half-written, and never mixes two runs.
 */
export function writeReport(dir: string, report: BenchReport): string[] {
  const contents: Record<(typeof REPORT_FILES)[number], string> = {
    'report.md': renderMarkdown(report),
    'report.json': JSON.stringify(report, null, 2) + '\n',
    'report.csv': renderCsv(report),
    'report.html': renderHtml(report),
  };
  fs.mkdirSync(dir, { recursive: true });
  const tmps: [string, string][] = [];
  try {
    for (const name of REPORT_FILES) {
      const file = path.join(dir, name);
      const tmp = path.join(dir, `.${name}.${process.pid}.tmp`);
      tmps.push([tmp, file]);
      const fd = fs.openSync(tmp, 'w');
      try { writeAll(fd, Buffer.from(contents[name], 'utf8')); fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
    }
  } catch (e) {
    for (const [tmp] of tmps) fs.rmSync(tmp, { force: true });
    throw writeError(tmps.at(-1)?.[1] ?? dir, e);
  }
  for (const [tmp, file] of tmps) fs.renameSync(tmp, file);
  return tmps.map(([, f]) => f);
}
