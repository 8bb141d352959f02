// Child processes of a bench run: every child is started in its own process group, logged to a
// file, and killed (group and all) when the bench ends, fails, or is interrupted with Ctrl-C.

import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';

export interface Child {
  name: string;
  proc: ChildProcess;
  pid: number;
  logFile: string;
  exited: Promise<number | null>;
  /** Resolves when a line of the child's output matches. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<string>;
  stop(graceMs?: number): Promise<void>;
}

const children = new Set<Child>();
let logDir = '/tmp';
let handlersInstalled = false;

export function setLogDir(dir: string): void {
  mkdirSync(dir, { recursive: true });
  logDir = dir;
}

export function getLogDir(): string {
  return logDir;
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

/** Kills every child still running: SIGTERM, then SIGKILL after `graceMs`. */
export async function stopAll(graceMs = 3000): Promise<void> {
  await Promise.all([...children].map((c) => c.stop(graceMs)));
}

/** Installs exit/signal handlers once, so no child outlives the bench. */
export function installCleanup(extra: () => Promise<void> = async () => undefined): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    console.error(`\nbench: ${signal}, stopping child processes…`);
    void stopAll(1500)
      .then(extra)
      .catch(() => undefined)
      .finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  // Last resort (synchronous): whatever is still alive when the process exits is killed.
  process.on('exit', () => {
    for (const c of children) killGroup(c.pid, 'SIGKILL');
  });
}

export interface StartOptions extends Pick<SpawnOptions, 'cwd' | 'env'> {
  /** Adds an IPC channel (for the emulator host). */
  ipc?: boolean;
}

export function startChild(name: string, command: string, args: string[], opts: StartOptions = {}): Child {
  const logFile = join(logDir, `${name}.log`);
  const log = createWriteStream(logFile, { flags: 'a' });
  const proc = spawn(command, args, {
    cwd: opts.cwd,
    env: opts.env,
    detached: true, // own process group: Ctrl-C reaches us, and we kill the whole group
    stdio: opts.ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
  });
  if (proc.pid === undefined) throw new Error(`could not start ${name} (${command})`);
  const pid = proc.pid;
  const lineWaiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  let buffered = '';
  const onData = (chunk: Buffer) => {
    // A pipe can still deliver output after 'exit' (which ends the log): it is dropped from the file, not a crash.
    if (!log.writableEnded) log.write(chunk);
    if (lineWaiters.length === 0) return;
    buffered += chunk.toString('utf8');
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) {
      for (const w of [...lineWaiters]) {
        if (w.pattern.test(line)) {
          lineWaiters.splice(lineWaiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  const exited = new Promise<number | null>((resolve) => {
    proc.once('exit', (code, signal) => {
      log.write(`\n[bench] ${name} exited (code ${code}, signal ${signal})\n`);
      log.end();
      children.delete(child);
      resolve(code);
    });
  });

  const child: Child = {
    name,
    proc,
    pid,
    logFile,
    exited,
    waitForOutput(pattern, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`${name}: no output matching ${pattern} within ${timeoutMs} ms (see ${logFile})`)),
          timeoutMs,
        );
        const waiter = {
          pattern,
          resolve: (line: string) => {
            clearTimeout(timer);
            resolve(line);
          },
        };
        lineWaiters.push(waiter);
        void exited.then((code) => {
          clearTimeout(timer);
          reject(new Error(`${name} exited (code ${code}) before printing ${pattern}; see ${logFile}`));
        });
      });
    },
    async stop(graceMs = 3000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      killGroup(pid, 'SIGTERM');
      const timer = setTimeout(() => killGroup(pid, 'SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
      killGroup(pid, 'SIGKILL'); // any grandchild left in the group
    },
  };
  children.add(child);
  return child;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls a URL until it answers 2xx. */
export async function waitForHttp(url: string, opts: { timeoutMs?: number; child?: Child } = {}): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  let last = '';
  while (Date.now() < deadline) {
    if (opts.child && opts.child.proc.exitCode !== null)
      throw new Error(`${opts.child.name} exited (code ${opts.child.proc.exitCode}); see ${opts.child.logFile}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (res.ok) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(100);
  }
  throw new Error(`${url} not ready: ${last}`);
}
