// `npm run example <name> [args...]`: runs examples/<name>.ts as a user would (through tsx). With
// ETCD_ENDPOINTS it uses that cluster; without, it starts a throwaway 3-member etcd cluster of the
// local binary (installed with apt-get when missing and we are root on Debian), and removes it when
// the example ends, or when this is stopped (Ctrl-C, SIGTERM, SIGHUP) or killed (harness/reaper.ts).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startCluster, type Cluster } from '../harness/cluster.js';
import { endpointsFromEnv } from '../harness/environment.js';
import { ensureEtcdInstalled, nodeTooOld } from '../harness/install.js';
import { reapOnExit } from '../harness/reaper.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const examples = readdirSync(new URL('../examples/', import.meta.url)).filter(f => f.endsWith('.ts')).map(f => f.slice(0, -3));
const [name, ...args] = process.argv.slice(2);

function fail(line: string): never {
  process.stderr.write(`${line}\n`);
  process.exit(1);
}

if (!name || !examples.includes(name.replace(/\.ts$/, '').replace(/^examples\//, ''))) {
  fail(`Usage: npm run example <name> [args...], where <name> is one of: ${examples.join(', ')}.`);
}
const file = `examples/${name.replace(/\.ts$/, '').replace(/^examples\//, '')}.ts`;
const tooOld = nodeTooOld();
if (tooOld) fail(tooOld);

let cluster: Cluster | undefined;
let endpoints = endpointsFromEnv();
if (endpoints.length === 0) {
  const missing = ensureEtcdInstalled();
  if (missing) fail(missing);
  cluster = await startCluster();
  endpoints = cluster.endpoints;
  process.stderr.write(`example: a throwaway etcd cluster at ETCD_ENDPOINTS=${endpoints.join(',')} (removed when ${file} ends)\n`);
}

const child = spawn(process.execPath, ['--import', 'tsx', file, ...args], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, ETCD_ENDPOINTS: endpoints.join(',') },
});
reapOnExit(child, file);
// The terminal's Ctrl-C reaches the example too; kill and SIGTERM reach only us: pass them on.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => child.kill(signal));
const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
await cluster?.stop();
process.exit(code ?? (signal === 'SIGINT' ? 130 : signal === 'SIGHUP' ? 129 : 143));
