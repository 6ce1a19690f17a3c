import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../../harness/cluster.js';
import { createPki, type Pki } from '../support/tls.js';
import { uniqueName } from '../support/etcd.js';
import { cli } from './run.js';

/**
 * Node warnings from the libraries must not reach the CLI's stderr. gRPC sets the TLS server name to
 * the endpoint's host, and Node warns (DEP0123) when that is an IP address: the CLI on
 * https://127.0.0.1 is the case that printed it.
 */
describe('the CLI\'s stderr over TLS to an IP address', () => {
  let pki: Pki;
  let cluster: Cluster;
  beforeAll(async () => {
    pki = await createPki();
    cluster = await startCluster({ size: 1, tls: pki.flags });
  });
  afterAll(async () => {
    await cluster?.stop();
    await pki?.remove();
  });

  it('has no DEP0123 (or any other) warning on lock and status', async () => {
    expect(cluster.endpoints[0]).toMatch(/^https:\/\/127\.0\.0\.1:/);
    const flags = ['--endpoints', cluster.endpoints.join(','), '--cacert', pki.caFile, '--cert', pki.client.certFile, '--key', pki.client.keyFile];
    const name = uniqueName('cli-warn');
    const lock = cli(['lock', name, ...flags, '--', 'echo', 'ran']);
    expect(await lock.exited).toBe(0);
    expect(lock.lines).toEqual(['ran']);
    expect(lock.stderr()).toBe('');
    const status = cli(['status', name, ...flags]);
    expect(await status.exited).toBe(0);
    expect(status.stderr()).toBe('');
  });
});

describe('silenceLibraryWarnings', () => {
  it('drops DEP0123 in every form emitWarning takes, and nothing else', () => {
    const module = fileURLToPath(new URL('../../lib/cli/warnings.ts', import.meta.url));
    const program = `
      const { silenceLibraryWarnings } = await import(${JSON.stringify(module)});
      silenceLibraryWarnings();
      process.emitWarning('ip servername', 'DeprecationWarning', 'DEP0123');
      process.emitWarning('ip servername', { type: 'DeprecationWarning', code: 'DEP0123' });
      process.emitWarning(Object.assign(new Error('ip servername'), { name: 'DeprecationWarning', code: 'DEP0123' }));
      process.emitWarning('another deprecation', 'DeprecationWarning', 'DEP0999');
      process.emitWarning('a plain warning');
    `;
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', program], { encoding: 'utf8' });
    expect(run.status).toBe(0);
    expect(run.stderr).not.toMatch(/ip servername/);
    expect(run.stderr).toMatch(/\[DEP0999\] DeprecationWarning: another deprecation/);
    expect(run.stderr).toMatch(/Warning: a plain warning/);
  });
});
