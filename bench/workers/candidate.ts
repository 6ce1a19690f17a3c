/**
 * One election candidate in its own process, for the kill -9 failover case: campaigns for
 * `<name>` on a lease of `<ttl>` seconds, with this library (`ours`) or etcd3's Election (`etcd3`),
 * sends `{"type":"leader"}` once elected and then holds on until it is killed.
 */
import { Etcd3 } from 'etcd3';
import { Election, Session } from '../../lib/index.js';
import { emit, endpoints, survivePromiseBugs } from './io.js';

survivePromiseBugs();

const [impl, name, ttl] = process.argv.slice(2) as ['ours' | 'etcd3', string, string];
const client = new Etcd3({ hosts: endpoints() });
if (impl === 'ours') {
  const session = await Session.create(client, { ttl: Number(ttl) });
  await new Election(session, name).campaign('killed');
} else {
  await client.election(name, Number(ttl)).campaign('killed').wait();
}
emit({ type: 'leader' });
setInterval(() => undefined, 60_000);
