import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ExitCode } from '../../lib/cli/exit-codes.js';
import { formatQueue, type QueueRow } from '../../lib/cli/status.js';
import { endpoints, uniqueName } from '../support/etcd.js';

const CLI = fileURLToPath(new URL('../../lib/cli.ts', import.meta.url));

const row = (position: number, role: QueueRow['role'], extra: Partial<QueueRow> = {}): QueueRow => ({
  position,
  role,
  key: `q/${position}`,
  lease: `${position}a`,
  ttl: 9,
  createRevision: String(10 + position),
  value: '',
  ...extra,
});

describe('status output', () => {
  it('names every holder, and shows MODE and WEIGHT columns only for kinds that have them', () => {
    const plain = formatQueue('q', [row(0, 'holder'), row(1, 'waiter')]);
    expect(plain[0]).toBe('"q": held by q/0, 1 waiter');
    expect(plain[1]).toMatch(/^POS +ROLE +KEY +LEASE +TTL +CREATE-REV +VALUE$/);

    const shared = formatQueue('q', [row(0, 'holder', { mode: 'read' }), row(1, 'holder', { mode: 'read' }), row(2, 'waiter', { mode: 'write' })]);
    expect(shared[0]).toBe('"q": held by q/0, q/1, 1 waiter');
    expect(shared[1]).toMatch(/^POS +ROLE +MODE +KEY /);
    expect(shared.slice(2).map(l => l.split(/ +/).slice(0, 3))).toEqual([
      ['0', 'holder', 'read'],
      ['1', 'holder', 'read'],
      ['2', 'waiter', 'write'],
    ]);

    const weighted = formatQueue('q', [row(0, 'holder', { weight: 2 }), row(1, 'waiter', { weight: 3 })]);
    expect(weighted[1]).toMatch(/^POS +ROLE +WEIGHT +KEY /);
    expect(weighted[3]!.split(/ +/).slice(0, 3)).toEqual(['1', 'waiter', '3']);
  });

  it('says a free name is free', () => {
    expect(formatQueue('q', [])).toEqual(['"q" is free: no holder, no waiters.']);
  });

  it('exits with the usage code and names the option for an unknown --kind', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'status', uniqueName(), '--kind', 'nope'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ETCD_ENDPOINTS: endpoints().join(',') },
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(ExitCode.usage);
    expect(stderr).toMatch(/kind must be one of mutex, election, rwlock, semaphore\. Got: nope/);
  });
});
