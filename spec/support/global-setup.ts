import type { TestProject } from 'vitest/node';
import { startTarget } from './target.js';

declare module 'vitest' {
  export interface ProvidedContext {
    etcdEndpoints: string[];
  }
}

/** Starts (or finds) the etcd cluster the whole suite shares, and removes it after. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const target = await startTarget();
  project.provide('etcdEndpoints', target.endpoints);
  return () => target.stop();
}
