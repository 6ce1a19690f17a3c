import { spawnSync } from 'node:child_process';
import type { TestProject } from 'vitest/node';
import { etcdRuns, etcdctlRuns, runs } from '../../harness/environment.js';
import type { Capabilities } from './capabilities.js';
import { startTarget } from './target.js';

declare module 'vitest' {
  export interface ProvidedContext {
    etcdEndpoints: string[];
    capabilities: Capabilities;
  }
}

/** Starts (or finds) the etcd cluster the whole suite shares, says what the mode offers, and removes the cluster after. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const target = await startTarget();
  const localEtcdctl = etcdctlRuns();
  const containerEtcdctl =
    target.container !== undefined && spawnSync('docker', ['exec', target.container, 'etcdctl', 'version'], { stdio: 'ignore' }).status === 0;
  project.provide('etcdEndpoints', target.endpoints);
  project.provide('capabilities', {
    mode: target.mode,
    ownClusters: etcdRuns(),
    etcdctl: localEtcdctl ? 'local' : containerEtcdctl ? 'container' : undefined,
    localEtcdctl,
    openssl: runs('openssl', ['version']),
    container: target.container,
  });
  return () => target.stop();
}
