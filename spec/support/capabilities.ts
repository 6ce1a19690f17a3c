import { describe, inject, it, type TestFunction } from 'vitest';
import type { Mode } from '../../harness/environment.js';

/**
 * What the mode the suite runs in offers (global-setup.ts finds out once): tests that need more
 * than it offers are skipped with the reason in their name, through {@link given}.
 */
export interface Capabilities {
  readonly mode: Mode;
  /** The etcd binary runs here: a test may start clusters of its own, and kill, freeze and restart their members. */
  readonly ownClusters: boolean;
  /**
   * How `etcdctl()` (spec/support/etcd.ts) reaches the shared cluster: a local binary, the etcdctl
   * inside the suite's etcd container (`docker exec`, testcontainers mode), or not at all.
   */
  readonly etcdctl: 'local' | 'container' | undefined;
  /** An etcdctl binary here: for clusters of our own, and for long-running etcdctl processes a test signals. */
  readonly localEtcdctl: boolean;
  /** The openssl binary (the TLS tests make their certificates with it). */
  readonly openssl: boolean;
  /** The etcd container's id in testcontainers mode. */
  readonly container: string | undefined;
}

/** Something a test needs beyond the shared cluster. */
export type Need = 'ownClusters' | 'etcdctl' | 'localEtcdctl' | 'openssl';

const REASONS: Record<Need, string> = {
  ownClusters: 'needs clusters of its own, and the etcd binary (ETCD_BIN or PATH) does not run here',
  etcdctl: 'needs etcdctl: none on PATH (Debian: etcd-client) and no etcd container to run it in',
  localEtcdctl: 'needs etcdctl on this host (Debian: etcd-client): it signals etcdctl or runs it on a cluster of its own',
  openssl: 'needs the openssl binary for its certificates (Debian: openssl)',
};

/** What this run's mode offers. */
export function capabilities(): Capabilities {
  return inject('capabilities');
}

function met(need: Need, can: Capabilities): boolean {
  return need === 'etcdctl' ? can.etcdctl !== undefined : can[need];
}

/** The first need this mode does not meet, as the reason a test is skipped; undefined when all are met. */
export function unmet(...needs: Need[]): string | undefined {
  const can = capabilities();
  const need = needs.find(n => !met(n, can));
  return need === undefined ? undefined : `${REASONS[need]} (mode: ${can.mode})`;
}

/**
 * `it` and `describe` for tests that need `needs`: they run when the mode offers them, else they are
 * skipped and the reason is in their name ("… [skipped: needs etcdctl: …]").
 */
export function given(...needs: Need[]): {
  it: (name: string, fn: TestFunction, timeout?: number) => void;
  describe: (name: string, fn: () => void) => void;
} {
  const reason = unmet(...needs);
  const label = (name: string): string => `${name} [skipped: ${reason}]`;
  return {
    it: (name, fn, timeout) => (reason ? it.skip(label(name), fn) : it(name, fn, timeout)),
    describe: (name, fn) => (reason ? describe.skip(label(name), fn) : describe(name, fn)),
  };
}
