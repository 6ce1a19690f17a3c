import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * What a {@link Proxy} does with traffic:
 * - `pass`: forwards every byte both ways.
 * - `blackhole`: drops every byte of every connection, current and new, both ways; sockets stay
 *   open, so neither end hears anything (a partition: no RST, no FIN, only silence).
 * - `refuse`: destroys each new connection at once with an RST (the member's port is closed);
 *   current connections carry on.
 * - `reset`: destroys every current connection with an RST, and each new one too.
 */
export type ProxyMode = 'pass' | 'blackhole' | 'refuse' | 'reset';

/** A TCP proxy on 127.0.0.1 in front of one etcd member, for injecting network faults. */
export interface Proxy {
  /** `http://127.0.0.1:<port>`: give it to a client in place of the member's URL. */
  readonly url: string;
  /** The member's URL this proxy forwards to. */
  readonly target: string;
  readonly mode: ProxyMode;
  /** Connections currently open through the proxy. */
  readonly connections: number;
  /**
   * Forwards again. A connection that lost bytes while blackholed cannot carry on (its byte stream
   * has a gap, as after TCP gave up retransmitting): it is reset.
   */
  pass(): void;
  blackhole(): void;
  refuse(): void;
  reset(): void;
  /**
   * Every current connection goes silently dead for good (its bytes are dropped from now on),
   * while new connections pass: what a NAT or load balancer that lost its state does. Only a
   * keepalive on the connection notices.
   */
  strand(): void;
  /**
   * Forwards the next chunk etcd sends (say, the event that tells a waiter its predecessor is
   * gone), then blackholes: the client hears the news but can no longer act on it.
   * Resolves once the blackhole is on.
   */
  blackholeAfterNextReply(): Promise<void>;
  /** Resolves once the next chunk from the client has been forwarded (before any answer can come back). */
  nextRequest(): Promise<void>;
  /** Destroys every connection and stops listening. */
  close(): Promise<void>;
}

interface Pair {
  readonly client: Socket;
  readonly upstream: Socket;
  /** Bytes were dropped: the streams have a gap. */
  gapped: boolean;
  /** Stranded: drops everything forever. */
  dead: boolean;
}

/** Starts a proxy on a free port of 127.0.0.1 forwarding to `targetUrl` (`http://host:port`). */
export async function startProxy(targetUrl: string): Promise<Proxy> {
  const target = new URL(targetUrl);
  const pairs = new Set<Pair>();
  let mode: ProxyMode = 'pass';
  let afterNextReply: (() => void) | undefined;
  let onRequest: (() => void)[] = [];

  const destroy = (pair: Pair): void => {
    pairs.delete(pair);
    pair.client.resetAndDestroy();
    pair.upstream.resetAndDestroy();
  };

  /** Forwards `from` → `to` unless the pair is cut off, with backpressure. */
  const forward = (pair: Pair, from: Socket, to: Socket): void => {
    from.on('data', (chunk: Buffer) => {
      if (mode === 'blackhole' || pair.dead) {
        pair.gapped = true;
        return;
      }
      if (!to.write(chunk)) {
        from.pause();
        to.once('drain', () => from.resume());
      }
      if (from === pair.client && onRequest.length > 0) {
        const waiting = onRequest;
        onRequest = [];
        for (const resolve of waiting) resolve();
      }
      if (from === pair.upstream && afterNextReply) {
        const armed = afterNextReply;
        afterNextReply = undefined;
        mode = 'blackhole';
        armed();
      }
    });
    // A half-close travels as it would without us.
    from.on('end', () => {
      if (!pair.dead && mode !== 'blackhole') to.end();
    });
    // An error or a close of one side ends both, unless the pair is cut off: then the other end
    // hears nothing, as across a partition.
    const gone = (): void => {
      if (!pairs.has(pair)) return;
      if (mode !== 'blackhole' && !pair.dead) {
        destroy(pair);
        return;
      }
      pair.gapped = true;
      from.destroy();
      if (to.destroyed) pairs.delete(pair);
    };
    from.on('error', gone);
    from.on('close', gone);
  };

  const server: Server = createServer(client => {
    if (mode === 'refuse' || mode === 'reset') {
      client.on('error', () => undefined);
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(Number(target.port), target.hostname);
    const pair: Pair = { client, upstream, gapped: false, dead: false };
    pairs.add(pair);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    forward(pair, client, upstream);
    forward(pair, upstream, client);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;

  return {
    url: `http://127.0.0.1:${port}`,
    target: targetUrl,
    get mode() {
      return mode;
    },
    get connections() {
      return pairs.size;
    },
    pass() {
      mode = 'pass';
      for (const pair of [...pairs]) if (pair.gapped && !pair.dead) destroy(pair);
    },
    blackhole() {
      mode = 'blackhole';
    },
    refuse() {
      mode = 'refuse';
    },
    reset() {
      mode = 'reset';
      for (const pair of [...pairs]) destroy(pair);
    },
    strand() {
      for (const pair of pairs) pair.dead = true;
      mode = 'pass';
    },
    nextRequest() {
      return new Promise<void>(resolve => onRequest.push(resolve));
    },
    blackholeAfterNextReply() {
      return new Promise<void>(resolve => (afterNextReply = resolve));
    },
    async close() {
      for (const pair of [...pairs]) destroy(pair);
      await new Promise(resolve => server.close(resolve));
    },
  };
}

/** One proxy per member URL; `all` switches them together. */
export interface ProxySet {
  readonly proxies: Proxy[];
  /** The proxies' URLs, in the order of the members given. */
  readonly urls: string[];
  set(mode: ProxyMode | 'strand'): void;
  close(): Promise<void>;
}

/** Starts one {@link Proxy} in front of each of `targetUrls`. */
export async function startProxies(targetUrls: string[]): Promise<ProxySet> {
  const proxies = await Promise.all(targetUrls.map(url => startProxy(url)));
  return {
    proxies,
    urls: proxies.map(p => p.url),
    set(mode) {
      for (const p of proxies) p[mode]();
    },
    async close() {
      await Promise.all(proxies.map(p => p.close()));
    },
  };
}
