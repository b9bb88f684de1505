// The delay proxy as a process of its own, so it can run inside a server's network
// namespace: `node delay-proxy-main.js LISTEN_HOST:PORT TARGET_HOST:PORT [LINK_JSON]`.
// It prints `listening HOST:PORT` once ready, then takes one JSON LinkSettings per line on
// stdin and answers each with `ok` or `error <message>`. It stops when stdin closes or its
// parent dies (a harness killed with -9 leaves no proxy behind).
import { createInterface } from 'node:readline';
import { DelayProxy } from './delay-proxy.js';
import { LinkSettingsError, validateLinkSettings } from './link-settings.js';

function hostPort(text: string | undefined, what: string): { host: string; port: number } {
  const m = /^(.+):(\d+)$/.exec(text ?? '');
  if (!m) {
    console.error(`delay proxy: ${what} must be HOST:PORT, got ${JSON.stringify(text)}`);
    process.exit(2);
  }
  return { host: m[1], port: Number(m[2]) };
}

const [listenArg, targetArg, linkArg] = process.argv.slice(2);
const listen = hostPort(listenArg, 'the listen address');
const target = hostPort(targetArg, 'the target address');
let link = {};
try {
  link = validateLinkSettings(JSON.parse(linkArg ?? '{}'), 'initial link');
} catch (err) {
  console.error(`delay proxy: ${(err as Error).message}`);
  process.exit(2);
}

const proxy = await DelayProxy.start({
  listenHost: listen.host,
  listenPort: listen.port,
  targetHost: target.host,
  targetPort: target.port,
  link,
}).catch((err: unknown) => {
  console.error(`delay proxy: cannot listen on ${listenArg}: ${(err as Error).message}`);
  process.exit(1);
});
console.log(`listening ${listen.host}:${proxy.port}`);

const stop = () => void proxy.close().finally(() => process.exit(0));
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) stop();
}, 250).unref();
process.once('SIGTERM', stop);

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  if (line.trim() === '') return;
  try {
    proxy.setLink(validateLinkSettings(JSON.parse(line), 'link'));
    console.log('ok');
  } catch (err) {
    const message = err instanceof LinkSettingsError ? err.message : `bad JSON: ${String(err)}`;
    console.log(`error ${message}`);
  }
});
lines.on('close', stop);
