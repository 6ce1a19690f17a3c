// What npm test says first on a machine that cannot run the suite: one line, before the type check
// and the lint, naming what to do. Needs no etcd (vitest project "no-etcd").
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { noEtcdLine } from '../../harness/environment.js';
import { nodeTooOld } from '../../harness/install.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** The environment without any of the variables that pick a mode. */
function bare(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ['ETCD_ENDPOINTS', 'ETCD_TESTCONTAINERS', 'ETCD_BIN', 'ETCDCTL_BIN', 'DOCKER_HOST', 'VITEST_JSON']) delete env[name];
  return { ...env, ...extra };
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string; ms: number }> {
  const started = performance.now();
  return new Promise(resolve => {
    execFile(command, args, { cwd: root, env }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr, ms: performance.now() - started });
    });
  });
}

const preflight = (env: NodeJS.ProcessEnv): ReturnType<typeof run> =>
  run(process.execPath, ['--import', 'tsx', 'spec/support/preflight.ts'], bare(env));

describe('npm test without any etcd', () => {
  it('stops before the type check and the lint, with one line listing every way to get etcd', async () => {
    // ETCD_BIN pointing nowhere: the user's choice of binary, which the preflight does not replace
    // by installing one, so this holds on a root Debian machine too.
    const result = await run('npm', ['test'], bare({ ETCD_BIN: '/nonexistent/etcd' }));
    console.log(`npm test without etcd: exit ${result.code} after ${result.ms.toFixed(0)} ms`);
    expect(result.code).not.toBe(0);
    expect(result.stdout).not.toMatch(/> etcd-concurrency@\S+ (typecheck|lint)/); // those scripts never started
    const ours = result.stderr.split('\n').filter(line => line && !line.startsWith('npm '));
    expect(ours).toEqual([noEtcdLine().replace('"etcd"', '"/nonexistent/etcd"')]);
    expect(ours[0]).toMatch(/apt-get install etcd-server etcd-client/);
    expect(ours[0]).toMatch(/ETCD_ENDPOINTS=/);
    expect(ours[0]).toMatch(/ETCD_TESTCONTAINERS=1 where Docker runs/);
    expect(result.stderr).not.toMatch(/^\s+at /m); // no stack trace
    // "Within a second or two" on an idle machine; the bound is loose because CI machines are shared.
    expect(result.ms).toBeLessThan(15_000);
  });

  it('ETCD_ENDPOINTS that accept no connection: one line', async () => {
    const result = await preflight({ ETCD_ENDPOINTS: 'http://127.0.0.1:1' });
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual([
      'ETCD_ENDPOINTS=http://127.0.0.1:1: no endpoint accepts a connection. Start that cluster (e.g. docker compose up), or unset ETCD_ENDPOINTS to use a local etcd.',
    ]);
  });

  it('ETCD_TESTCONTAINERS=1 without a Docker daemon: one line', async () => {
    const result = await preflight({ ETCD_TESTCONTAINERS: '1', DOCKER_HOST: 'unix:///nonexistent/docker.sock' });
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/^ETCD_TESTCONTAINERS=1, but no Docker daemon answers/);
  });

  it('a Node older than 20.19 (Debian’s own nodejs) is named as the problem', () => {
    expect(nodeTooOld('18.19.0')).toMatch(/^Node 18\.19\.0 is too old: etcd-concurrency needs Node >= 20\.19 \(Debian's own nodejs package is older/);
    expect(nodeTooOld('20.18.3')).toBeDefined();
    expect(nodeTooOld('20.19.0')).toBeUndefined();
    expect(nodeTooOld('22.1.0')).toBeUndefined();
  });
});
