import { BoundedHold } from '../queue/bounded.js';
import type { Ticket } from '../queue/ticket.js';
import { now } from '../session/lease-keeper.js';

/** One hold of a queue key, shared by the handles that re-entered it. */
export class Hold {
  /** How many handles hold it; the key is deleted when the last one lets go. */
  count = 1;

  constructor(
    readonly entry: Ticket,
    /** Set when the hold was taken with `maxHold`. */
    readonly bound?: BoundedHold,
  ) {}

  /** Aborts when ownership ends: the key's loss, or the end of a bounded hold. */
  get signal(): AbortSignal {
    return this.bound?.signal ?? this.entry.signal;
  }
}

/**
 * The hold of a ticket just granted: bounded by `maxHold` (ms) when given. If bounding fails, the
 * key is deleted before this rejects.
 */
export async function holdOf(ticket: Ticket, maxHold: number | undefined): Promise<Hold> {
  if (maxHold === undefined) return new Hold(ticket);
  const grantedAt = now();
  try {
    return new Hold(ticket, await BoundedHold.start(ticket, maxHold, grantedAt));
  } catch (error) {
    await ticket.release().catch(() => undefined);
    throw error;
  }
}
