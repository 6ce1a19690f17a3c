import type { Watch, WatchListener, WatchTarget } from './watch.js';

/** What a watch's registration needs of the hub (`watch-hub.ts`) that keeps it. */
export interface Hub {
  /** A listener of `registration` left: etcd's watch ends once none is left. */
  leave(registration: Registration): void;
}

/** A watch as the stream knows it; its owner holds it as the {@link Watch} to cancel. */
export class Registration implements Watch {
  /** Registered on the current stream. */
  registered = false;
  /** Its creation was sent on the current stream (answered or not). */
  sent = false;
  /** Never dropped (stream replaced, or cancelled by etcd) and registered again. */
  first = true;
  refusals = 0;
  /** Whether its owner still watches (it may have cancelled while others that joined still do). */
  owned = true;
  /** Watches of the same target from "now" that joined this one (see `WatchHub.watch`). */
  joiners: Joiner[] | undefined;

  constructor(
    private readonly hub: Hub,
    readonly id: number,
    readonly target: WatchTarget,
    readonly listener: WatchListener,
    /** Watch from this revision; dropped once a registration was lost (then from "now"). */
    public startRevision: bigint | undefined,
    /** Its key in the hub's shared registrations, for a watch from "now". */
    readonly share: string | undefined,
  ) {}

  cancel(): void {
    if (!this.owned) return;
    this.owned = false;
    this.hub.leave(this);
  }
}

/**
 * A watch that joined another's registration: told of what it is told, from its own sync on, and,
 * as etcd tells a watch registered at that revision, only of events after the revision it was
 * synced at (what came before is in the read that follows the sync).
 */
export class Joiner implements Watch {
  /** Not told it is synced yet (nor of events meanwhile: the read that follows the sync covers them). */
  awaiting = true;
  /** The revision it was synced at: it is told of events after it only. */
  syncedAt = 0n;

  constructor(
    private readonly hub: Hub,
    readonly registration: Registration,
    readonly listener: WatchListener,
  ) {}

  cancel(): void {
    const joiners = this.registration.joiners;
    const at = joiners?.indexOf(this) ?? -1;
    if (at < 0) return;
    joiners!.splice(at, 1);
    this.hub.leave(this.registration);
  }
}

/** What makes two watches from "now" the same etcd watch: their keys and the events they want. */
export function shareKey(target: WatchTarget): string {
  return `${target.events} ${target.key.toString('hex')} ${target.rangeEnd?.toString('hex') ?? ''}`;
}
