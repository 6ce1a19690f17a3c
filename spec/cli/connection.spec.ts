import { describe, expect, it } from 'vitest';
import { resilientClientOptions } from '../../lib/index.js';
import { connectionFrom } from '../../lib/cli/connection.js';

describe('the CLI connection', () => {
  it('builds its etcd3 client with resilientClientOptions()', () => {
    const { clientOptions } = connectionFrom({ endpoints: '127.0.0.1:2379' }, {});
    const recommended = resilientClientOptions({ hosts: ['http://127.0.0.1:2379'] });
    expect(clientOptions.hosts).toEqual(['http://127.0.0.1:2379']);
    expect(clientOptions.grpcOptions).toEqual(recommended.grpcOptions);
    expect(clientOptions.faultHandling?.global).toBe(recommended.faultHandling?.global);
    expect(clientOptions.faultHandling?.host).toBeTypeOf('function');
    expect(clientOptions.faultHandling?.watchBackoff).toBeDefined();
  });

  it('uses --dial-timeout as the deadline of the client\'s unary calls, and none for streams', () => {
    const { clientOptions, dialTimeout } = connectionFrom({ 'dial-timeout': '1m30s' }, {});
    expect(dialTimeout).toBe(90_000);
    const factory = clientOptions.defaultCallOptions as (context: { isStream: boolean; service: string; method: string }) => { deadline?: number };
    const before = Date.now();
    const deadline = factory({ isStream: false, service: 'KV', method: 'range' }).deadline!;
    expect(deadline - before).toBeGreaterThanOrEqual(90_000);
    expect(deadline - Date.now()).toBeLessThanOrEqual(90_000);
    expect(factory({ isStream: true, service: 'Watch', method: 'watch' }).deadline).toBeUndefined();
  });

  it.each(['0', '0s', 'soon'])('rejects --dial-timeout %j', text => {
    expect(() => connectionFrom({ 'dial-timeout': text }, {})).toThrow(/--dial-timeout must be/);
  });
});
