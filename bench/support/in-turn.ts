import type { Bench } from './bench.js';
import { timed } from './clock.js';
import { perOp, scrape, work, type ServerWork } from './metrics.js';
import { summarize, type Summary } from './stats.js';

/** A subject that {@link measureInTurn} times: one call of `cycle` is one sample. */
export interface Cycled {
  cycle(): Promise<void>;
  /** Takes one sample every `every` iterations; every iteration when unset. */
  every?: number;
}

/** What {@link measureInTurn} measured of one subject. */
export interface Measured {
  /** The time of each sampled cycle, in ms. */
  samples: number[];
  summary: Summary;
  /** etcd's work per cycle. */
  server: ServerWork;
}

/**
 * Times `subjects` cycle by cycle in turn, so that a change in the machine's load hits all alike:
 * 10 warm-up cycles of each, then `iterations` rounds of one cycle of each subject (each round
 * starting one subject further) and one `reference` call, which resolves with its own time in ms
 * (a plain put). Then, subject by subject in a pass of its own so that the reference calls are not
 * counted, etcd's work per cycle over `b.pick(10, 50)` cycles. Returns the subjects' figures in
 * their order, and the reference's.
 */
export async function measureInTurn(
  b: Bench,
  subjects: readonly Cycled[],
  iterations: number,
  reference: () => Promise<number>,
): Promise<{ subjects: Measured[]; reference: Summary }> {
  for (const s of subjects) for (let i = 0; i < 10; i++) await s.cycle();
  const taken = subjects.map(() => [] as number[]);
  const references: number[] = [];
  for (let i = 0; i < iterations; i++) {
    for (let k = 0; k < subjects.length; k++) {
      const j = (i + k) % subjects.length;
      if (i % (subjects[j]!.every ?? 1) !== 0) continue;
      taken[j]!.push(await timed(subjects[j]!.cycle));
    }
    references.push(await reference());
  }
  const measured: Measured[] = [];
  for (const [j, s] of subjects.entries()) {
    const k = b.pick(10, 50);
    const before = await scrape(b.metricsUrls);
    for (let i = 0; i < k; i++) await s.cycle();
    const server = perOp(work(before, await scrape(b.metricsUrls)), k);
    measured.push({ samples: taken[j]!, summary: summarize(taken[j]!), server });
  }
  return { subjects: measured, reference: summarize(references) };
}
