// Test helper: runs `slotfs server` as a real child process (from source through tsx, or
// the current build: slotfsCommand) and waits for its "listening at <NURL>" line.
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { slotfsCommand } from '../../grid/local-grid.js';
import { parseNurl, type Nurl } from '../protocol.js';
import { spawnOwned } from './owned-process.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

export interface ServerProcess {
  proc: ChildProcess;
  nurl: string;
  parsed: Nurl;
  /** https://host:port */
  origin: string;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  exited: Promise<number | string>;
  /** SIGTERM and wait for exit. */
  stop(): Promise<number | string>;
  /** SIGKILL and wait for exit. */
  kill(): Promise<number | string>;
}

export async function spawnServer(
  dir: string,
  args: string[] = ['--port', '0'],
  timeoutMs = 30_000,
): Promise<ServerProcess> {
  const cmd = slotfsCommand();
  const proc = spawnOwned(cmd.command, [...cmd.args, 'server', '--dir', dir, ...args], {
    cwd: cmd.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number | string>((resolve) =>
    proc.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')),
  );
  const nurl = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`server did not start within ${timeoutMs} ms; stderr: ${err}`));
    }, timeoutMs);
    const onData = () => {
      const m = /listening at (pb:\/\/\S+#v=1)/.exec(out);
      if (m) {
        clearTimeout(timer);
        proc.stdout!.off('data', onData);
        resolve(m[1]);
      }
    };
    proc.stdout!.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code}) before listening; stderr: ${err}`));
    });
  });
  const parsed = parseNurl(nurl);
  const signal = (sig: NodeJS.Signals) => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill(sig);
    return exited;
  };
  return {
    proc,
    nurl,
    parsed,
    origin: `https://${parsed.host}:${parsed.port}`,
    stdout: () => out,
    stderr: () => err,
    exited,
    stop: () => signal('SIGTERM'),
    kill: () => signal('SIGKILL'),
  };
}
