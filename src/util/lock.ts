import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { InputError } from './errors.js';

/** What a lock file holds: who writes the folder. */
interface Holder { pid: number; host: string; what: string; started: string }

const alive = (pid: number) => {
  try { process.kill(pid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
};

/**
 * Take `<target>.lock` for this process while it writes `target` (an output folder or file): a
 * second run on the same target is refused with who holds it. A lock left by a run that was killed
 * (its pid is gone) is taken over. Returns the release function (also run at exit).
 */
export function lockOutput(target: string, what: string): () => void {
  const file = `${path.resolve(target)}.lock`;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const me: Holder = { pid: process.pid, host: os.hostname(), what, started: new Date().toISOString() };
  for (let attempt = 0; ; attempt++) {
    try {
      fs.writeFileSync(file, JSON.stringify(me), { flag: 'wx' });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 2) throw e;
    }
    let h: Partial<Holder> = {};
    try { h = JSON.parse(fs.readFileSync(file, 'utf8')) as Holder; } catch { /* being written, or garbage: judged by age below */ }
    const stale = typeof h.pid === 'number' ? h.host === me.host && !alive(h.pid) : Date.now() - fs.statSync(file).mtimeMs > 10_000;
    if (!stale) throw new InputError(target, `another quantlab run is writing here (${h.what ?? 'unknown command'}, pid ${h.pid ?? '?'} on ${h.host ?? '?'}, since ${h.started ?? '?'}); wait for it to finish or stop it (a lock left by a killed run is taken over: ${file})`);
    fs.rmSync(file, { force: true });
  }
  let held = true;
  const release = () => {
    if (!held) return;
    held = false;
    process.off('exit', release);
    try { if ((JSON.parse(fs.readFileSync(file, 'utf8')) as Holder).pid === process.pid) fs.rmSync(file, { force: true }); } catch { /* already gone */ }
  };
  process.on('exit', release);
  return release;
}

/** `fn` with `target` locked for its duration. */
export async function withOutputLock<T>(target: string, what: string, fn: () => Promise<T>): Promise<T> {
  const release = lockOutput(target, what);
  try { return await fn(); } finally { release(); }
}
