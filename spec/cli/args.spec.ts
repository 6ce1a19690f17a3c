import { describe, expect, it } from 'vitest';
import { UsageError, parseDuration, parseSeconds } from '../../lib/cli/args.js';

describe('parseDuration', () => {
  it.each([
    ['1m30s', 90_000],
    ['1h', 3_600_000],
    ['500ms', 500],
    ['2.5s', 2500],
    ['1h2m3s4ms', 3_723_004],
    ['.5s', 500],
    ['1.5m', 90_000],
    ['0', 0],
    ['0s', 0],
    [' 5s ', 5000],
  ])('reads %j as %d ms', (text, ms) => {
    expect(parseDuration('timeout', text)).toBe(ms);
  });

  it.each([
    ['60', 60_000],
    ['1.5', 1500],
  ])('reads a bare number as seconds, as etcdctl\'s --ttl 60: %j', (text, ms) => {
    expect(parseDuration('timeout', text)).toBe(ms);
  });

  it.each(['', 's', '5x', '-1s', '1s-', '5 s', '1m 30s', 'ms', '1e3', 'Infinity', '5sec', '1d', '0x10'])(
    'rejects %j with a usage error naming the flag and the value',
    text => {
      expect(() => parseDuration('dial-timeout', text)).toThrow(UsageError);
      expect(() => parseDuration('dial-timeout', text)).toThrow(`--dial-timeout must be a duration such as 90s, 1m30s, 500ms, 2.5s or 1h (a bare number is seconds). Got: ${JSON.stringify(text)}`);
    },
  );
});

describe('parseSeconds', () => {
  it.each([
    ['60', 60],
    ['60s', 60],
    ['1m', 60],
    ['1m30s', 90],
  ])('reads %j as %d s', (text, s) => {
    expect(parseSeconds('ttl', text)).toBe(s);
  });

  it.each(['0', '500ms', '1.5s', '1.5'])('rejects %j: not a whole number of seconds ≥ 1', text => {
    expect(() => parseSeconds('ttl', text)).toThrow(`--ttl must be a whole number of seconds ≥ 1. Got: ${JSON.stringify(text)}`);
  });
});
