import type { Joiner, Registration } from './watch-registration.js';

/**
 * Creations sent on the stream and not yet answered, at most; the others wait their turn here.
 * grpc-js keeps a stream's messages that are written but not yet sent in an array that it copies
 * each time it sends one, so thousands written at once cost time and garbage quadratic in their
 * number (with 20,000 waiters lining up, 0.9 GB of garbage).
 */
const MAX_UNANSWERED = 256;

/** What the creations need of the hub (`watch-hub.ts`) whose stream they are sent on. */
export interface CreationStream {
  /** Whether a stream is open now. */
  isOpen(): boolean;
  /** Writes `request` on the stream, if one is open. */
  send(request: object): void;
  /** Whether `registration` is still one of the hub's watches (not cancelled meanwhile). */
  watches(registration: Registration): boolean;
}

/**
 * The flow control of a watch stream's requests that wait for an answer: the creations of watches,
 * and the progress requests whose answers sync the watches that joined another's registration.
 *
 * - **Creations are pipelined**: at most {@link MAX_UNANSWERED} are sent and not yet answered; the
 *   others wait their turn in a backlog, in order, and go out as answers come.
 * - **Joiners are synced by a progress request**: etcd answers a stream's requests in order, so when
 *   it answers a progress request, every creation sent before it is registered. A joiner's progress
 *   request waits in the backlog behind every creation asked for before it; with no stream open,
 *   it waits for the next stream. The hub's own progress requests (liveness) go through here too:
 *   their answers are told apart from the joiners' by their order only.
 */
export class WatchCreations {
  /** Per progress request sent on the current stream and not yet answered, in order: who waits for its answer. */
  private progressWaiters: Joiner[][] = [];
  /** Joiners waiting for a stream to send their progress request on. */
  private joinersToSync: Joiner[] = [];
  /** Ids of creations sent on the current stream and not yet answered, in the order sent. */
  private unanswered: number[] = [];
  /** Creations waiting until fewer than {@link MAX_UNANSWERED} are unanswered (and the joiners' progress requests behind them), from `backlogHead` on. */
  private backlog: (Registration | Joiner[])[] = [];
  private backlogHead = 0;

  constructor(private readonly stream: CreationStream) {}

  /** Sends the creation of `registration` now, or once its turn comes. */
  create(registration: Registration): void {
    if (this.unanswered.length >= MAX_UNANSWERED || this.backlogHead < this.backlog.length) this.backlog.push(registration);
    else this.sendCreation(registration);
  }

  /** `joiner` joined a registration: it is synced by a progress request, on the next stream if none is open. */
  join(joiner: Joiner): void {
    if (this.stream.isOpen()) this.syncAfterProgress([joiner]);
    else this.joinersToSync.push(joiner);
  }

  /** Sends a progress request; `joiners` are synced by its answer (etcd answers them in the order sent). */
  sendProgress(joiners: Joiner[]): void {
    this.progressWaiters.push(joiners);
    this.stream.send({ progress_request: {} });
  }

  /**
   * etcd answered a creation with watch id `id`: returns the id of the creation it answers, and
   * sends what waited its turn.
   */
  answered(id: number): number {
    // etcd answers creations in the order sent. Some versions answer a refused creation with
    // watch id -1 instead of ours: it is then the oldest creation not yet answered.
    if (this.unanswered[0] === id) this.unanswered.shift();
    else {
      const at = this.unanswered.indexOf(id);
      if (at >= 0) this.unanswered.splice(at, 1);
      else id = this.unanswered.shift() ?? id;
    }
    this.sendBacklog();
    return id;
  }

  /** etcd answered a progress request: the joiners that waited for it are synced. */
  progressAnswered(revision: bigint): void {
    for (const joiner of this.progressWaiters.shift() ?? []) {
      if (!joiner.awaiting || !joiner.registration.joiners?.includes(joiner)) continue;
      joiner.awaiting = false;
      joiner.syncedAt = revision;
      joiner.listener.synced(revision, false, true);
    }
  }

  /** A new stream is open: asks for the creation of each of `registrations`, then syncs the joiners that waited for it. */
  opened(registrations: Iterable<Registration>): void {
    this.unanswered = [];
    this.clearBacklog();
    for (const registration of registrations) this.create(registration);
    const joiners = this.joinersToSync.splice(0).filter(j => j.awaiting);
    if (joiners.length > 0) this.syncAfterProgress(joiners);
  }

  /** The stream is lost: nothing sent on it will be answered. */
  lost(): void {
    this.clearBacklog();
    this.progressWaiters = [];
    this.joinersToSync = [];
  }

  clearBacklog(): void {
    this.backlog = [];
    this.backlogHead = 0;
  }

  /**
   * Tells `joiners` they are synced once etcd answers a progress request sent behind every creation
   * asked for before (those waiting their turn in the backlog too).
   */
  private syncAfterProgress(joiners: Joiner[]): void {
    if (this.backlogHead < this.backlog.length) this.backlog.push(joiners);
    else this.sendProgress(joiners);
  }

  /** Sends waiting creations (and the progress requests queued behind them) while fewer than {@link MAX_UNANSWERED} are unanswered. */
  private sendBacklog(): void {
    while (this.unanswered.length < MAX_UNANSWERED && this.backlogHead < this.backlog.length) {
      const item = this.backlog[this.backlogHead++]!;
      if (Array.isArray(item)) {
        if (this.stream.isOpen()) this.sendProgress(item);
        continue;
      }
      // Cancelled meanwhile, or sent already (a registration may be queued twice).
      if (this.stream.watches(item) && !item.sent && this.stream.isOpen()) this.sendCreation(item);
    }
    if (this.backlogHead === this.backlog.length) this.clearBacklog();
    else if (this.backlogHead > 1024 && this.backlogHead * 2 > this.backlog.length) {
      this.backlog = this.backlog.slice(this.backlogHead);
      this.backlogHead = 0;
    }
  }

  private sendCreation(registration: Registration): void {
    const { key, rangeEnd, events } = registration.target;
    this.stream.send({
      create_request: {
        key,
        ...(rangeEnd ? { range_end: rangeEnd } : {}),
        ...(registration.startRevision === undefined ? {} : { start_revision: registration.startRevision.toString() }),
        ...(events === 'delete' ? { filters: ['Noput'] } : {}),
        watch_id: registration.id,
      },
    });
    this.unanswered.push(registration.id);
    registration.sent = true;
  }
}
