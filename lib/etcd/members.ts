import { setTimeout as sleep } from 'node:timers/promises';
import type { Namespace } from 'etcd3';
import { isSilence } from './classify.js';
import { transportOf, type Endpoint, type Transport } from './internals.js';

/** How long a probe of a suspect member waits for its answer, ms. */
const PROBE_TIMEOUT_MS = 1000;
/** Pause between probes of a member that did not answer the last one, ms. */
const PROBE_INTERVAL_MS = 500;
/** A member's connection is dropped at most this often, ms. */
const RESET_INTERVAL_MS = 1000;
/** Probes of one suspect in a row before probing stops until the member is suspected again. */
const MAX_PROBES = 30;
/** Hedge delay bounds, ms: a call unanswered for this long is also sent to another member. */
const HEDGE_MIN_MS = 150;
const HEDGE_MAX_MS = 1000;
/**
 * Hedging budget, as gRPC's retry throttling: a hedge costs a token, an answered attempt earns a
 * tenth of one, up to this many. A burst of slow calls on a busy cluster (where every member is
 * slow and a hedge only adds load) soon runs out of tokens; a frozen member among quiet ones does not.
 */
const HEDGE_TOKENS_MAX = 20;
const HEDGE_TOKENS_PER_ANSWER = 0.1;

/** What the library knows of one member's health. */
type Health =
  /** Answers, as far as we know. */
  | { readonly state: 'healthy' }
  /** Did not answer in time (frozen, partitioned, dead connection): avoided while probes go unanswered. */
  | { readonly state: 'suspect'; readonly since: number };

/** The health of a member that answers: one object for all. */
const HEALTHY: Health = { state: 'healthy' };

interface Member {
  readonly endpoint: Endpoint;
  health: Health;
  probing: boolean;
  /** When its connection was last dropped (monotonic ms). */
  resetAt: number;
}

/**
 * The members of one etcd cluster as seen through one etcd3 client, in the order to use them: those
 * that answer first (shuffled, so load spreads), suspects last. A member becomes suspect when a call
 * or stream on it goes unanswered while the cluster is otherwise answering; it is then probed
 * (etcd's `Status`, answered by each member locally, without raft) until it answers again. A frozen
 * member keeps its sockets open and answers nothing, so nothing short of this tells it apart.
 */
export class Members {
  private readonly members: Member[];
  /** Moving average of answered attempts' latency, ms. */
  private latency = 10;
  private hedgeTokens = HEDGE_TOKENS_MAX;

  constructor(private readonly transport: Transport) {
    this.members = transport.endpoints.map(endpoint => ({ endpoint, health: HEALTHY, probing: false, resetAt: -Infinity }));
  }

  /** Whether the library picks members itself (else etcd3 does, behind one pseudo-endpoint). */
  get direct(): boolean {
    return this.transport.direct;
  }

  /** Makes etcd3 authenticate again on the next call. */
  invalidateToken(): void {
    this.transport.invalidateToken();
  }

  /** The endpoints in the order to try them: healthy ones shuffled, then suspects, longest-suspected last. */
  order(): Endpoint[] {
    const healthy: Endpoint[] = [];
    const suspects: Member[] = [];
    for (const m of this.members) {
      if (m.health.state === 'healthy') healthy.push(m.endpoint);
      else suspects.push(m);
    }
    for (let i = healthy.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [healthy[i], healthy[j]] = [healthy[j]!, healthy[i]!];
    }
    suspects.sort((a, b) => (b.health as { since: number }).since - (a.health as { since: number }).since);
    return [...healthy, ...suspects.map(m => m.endpoint)];
  }

  /**
   * How long an attempt may go unanswered before the same request also goes to another member: four
   * times the usual latency, from 150 ms to 1 s. A slow answer is usually a busy cluster (then
   * rarely more than that), while a frozen member or a leaderless window never answers.
   */
  hedgeDelay(): number {
    return Math.min(HEDGE_MAX_MS, Math.max(HEDGE_MIN_MS, 4 * this.latency));
  }

  /**
   * The deadline of one attempt of a request that is not hedged, ms: eight times the usual latency,
   * at least 1 s. A frozen member or a leaderless window then costs about a second before the next
   * attempt goes to another member, while a busy cluster's slow answers still arrive in time.
   */
  attemptTimeout(): number {
    return Math.max(1000, 8 * this.latency);
  }

  /** Records an answered attempt's latency. */
  observe(ms: number): void {
    this.latency += (ms - this.latency) / 16;
    this.hedgeTokens = Math.min(HEDGE_TOKENS_MAX, this.hedgeTokens + HEDGE_TOKENS_PER_ANSWER);
  }

  /** Takes a token for one hedge; false when the budget is spent (then the call waits instead). */
  mayHedge(): boolean {
    if (this.hedgeTokens < 1) return false;
    this.hedgeTokens--;
    return true;
  }

  /** Whether `endpoint` is currently avoided. */
  isSuspect(endpoint: Endpoint): boolean {
    return this.member(endpoint)?.health.state === 'suspect';
  }

  /** The member answered (anything, even an error of etcd's): it is alive. */
  answered(endpoint: Endpoint): void {
    const m = this.member(endpoint);
    if (m && m.health !== HEALTHY) m.health = HEALTHY;
  }

  /**
   * The member did not answer in time: its connection is dropped (it may be the silent part, dropped
   * by a NAT or proxy), and the member is avoided until a probe is answered. With a single endpoint
   * (one member, or a load balancer) there is nothing to avoid it for: only the connection is renewed.
   */
  suspect(endpoint: Endpoint): void {
    const m = this.member(endpoint);
    if (!m) return;
    const now = performance.now();
    if (now - m.resetAt >= RESET_INTERVAL_MS) {
      m.resetAt = now;
      m.endpoint.reset();
    }
    if (this.members.length < 2) return;
    if (m.health.state === 'healthy') m.health = { state: 'suspect', since: now };
    if (!m.probing) void this.probe(m);
  }

  private member(endpoint: Endpoint): Member | undefined {
    return this.members.find(m => m.endpoint === endpoint);
  }

  private async probe(m: Member): Promise<void> {
    m.probing = true;
    try {
      for (let probes = 0; m.health.state === 'suspect' && probes < MAX_PROBES; probes++) {
        try {
          await m.endpoint.unary('Maintenance', 'status', {}, Date.now() + PROBE_TIMEOUT_MS);
          m.health = HEALTHY;
        } catch (error) {
          // Any answer of etcd's own (even "permission denied") shows the member is alive.
          if (!isSilence(error)) m.health = HEALTHY;
          else await sleep(PROBE_INTERVAL_MS, undefined, { ref: false });
        }
      }
    } finally {
      m.probing = false;
    }
  }
}

const registry = new WeakMap<object, Members>();

/** The members behind `client`, shared by every client on the same etcd3 connection pool. */
export function membersOf(client: Namespace): Members {
  const transport = transportOf(client);
  let members = registry.get(transport.key);
  if (!members) registry.set(transport.key, (members = new Members(transport)));
  return members;
}
