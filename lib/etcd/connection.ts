import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import type { IOptions } from 'etcd3';
import { InvalidArgumentError } from '../errors.js';

/**
 * Where etcd is and how to prove who we are: the settings `etcdctl` takes as `--endpoints`,
 * `--cacert`, `--cert`, `--key`, `--user` and `--password`.
 */
export interface ConnectionSettings {
  /** etcd endpoints: a list or a comma-separated string. Default: `http://127.0.0.1:2379`. */
  endpoints?: string | readonly string[];
  /**
   * PEM file of the CA that signed etcd's server certificate (`--cacert`). Giving it (or a client
   * certificate) turns TLS on. Default: Node's bundled root CAs, when TLS is on.
   */
  caFile?: string;
  /** PEM file of our client certificate (`--cert`), for `--client-cert-auth` clusters; needs `keyFile`. */
  certFile?: string;
  /** PEM file of the client certificate's private key (`--key`); needs `certFile`. */
  keyFile?: string;
  /** etcd user (`--user`). As in etcdctl, `name:password` gives the password too. */
  username?: string;
  /** The etcd user's password (`--password`). */
  password?: string;
}

/** The default endpoint, as `etcdctl`'s. */
export const DEFAULT_ENDPOINT = 'http://127.0.0.1:2379';

/**
 * Reads connection settings from the environment: `ETCD_ENDPOINTS` (else `ETCDCTL_ENDPOINTS`), and
 * etcdctl's own `ETCDCTL_CACERT`, `ETCDCTL_CERT`, `ETCDCTL_KEY`, `ETCDCTL_USER`, `ETCDCTL_PASSWORD`,
 * so an environment set up for `etcdctl` works as it is. Unset or empty variables are left out.
 */
export function connectionSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): ConnectionSettings {
  const pick = (...names: string[]): string | undefined => names.map(n => env[n]).find(v => v !== undefined && v !== '');
  const settings: ConnectionSettings = {
    endpoints: pick('ETCD_ENDPOINTS', 'ETCDCTL_ENDPOINTS'),
    caFile: pick('ETCDCTL_CACERT'),
    certFile: pick('ETCDCTL_CERT'),
    keyFile: pick('ETCDCTL_KEY'),
    username: pick('ETCDCTL_USER'),
    password: pick('ETCDCTL_PASSWORD'),
  };
  return Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined)) as ConnectionSettings;
}

/**
 * Turns {@link ConnectionSettings} into options for `new Etcd3(...)`: reads the PEM files, and
 * passes them and the user's credentials the way etcd3 expects (`credentials`, `auth`). The private
 * key and the password are non-enumerable in the result, so logging or serialising the options
 * does not print them.
 *
 * @throws {InvalidArgumentError} a certificate without its key (or the reverse), a password without
 * a user, or a file that cannot be read or holds no PEM block. Messages name the file, never its
 * contents.
 *
 * @example
 * ```ts
 * const client = new Etcd3(etcdClientOptions({
 *   endpoints: 'https://10.0.0.1:2379',
 *   caFile: '/etc/etcd/ca.crt', certFile: '/etc/etcd/client.crt', keyFile: '/etc/etcd/client.key',
 * }));
 * const session = await Session.create(client, { ttl: 10 });
 * ```
 */
export function etcdClientOptions(settings: ConnectionSettings = {}): IOptions {
  const hosts = endpointsOf(settings.endpoints);
  const options: IOptions = { hosts };
  const { caFile, certFile, keyFile } = settings;
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new InvalidArgumentError(
      certFile === undefined ? 'certFile' : 'keyFile',
      `A client certificate needs both certFile and keyFile. Got: ${certFile === undefined ? 'keyFile only' : 'certFile only'}`,
    );
  }
  if (caFile !== undefined || certFile !== undefined) {
    const credentials = {
      rootCertificate: caFile === undefined ? Buffer.from(rootCertificates.join('\n')) : readPem('caFile', caFile),
    } as NonNullable<IOptions['credentials']>;
    if (certFile !== undefined && keyFile !== undefined) {
      credentials.certChain = readPem('certFile', certFile);
      Object.defineProperty(credentials, 'privateKey', { value: readPem('keyFile', keyFile), enumerable: false });
    }
    options.credentials = credentials;
  }
  const auth = credentialsOf(settings.username, settings.password);
  if (auth) options.auth = auth;
  return options;
}

function endpointsOf(endpoints: string | readonly string[] | undefined): string[] {
  const list = (typeof endpoints === 'string' ? endpoints.split(',') : (endpoints ?? [DEFAULT_ENDPOINT]))
    .map(s => s.trim())
    .filter(Boolean);
  if (list.length === 0) {
    throw new InvalidArgumentError('endpoints', `At least one etcd endpoint is needed. Got: ${JSON.stringify(endpoints)}`);
  }
  return list;
}

function credentialsOf(username: string | undefined, password: string | undefined): IOptions['auth'] {
  if (username === undefined || username === '') {
    if (password !== undefined) throw new InvalidArgumentError('username', 'A password was given without a username');
    return undefined;
  }
  let name = username;
  let secret = password;
  const colon = username.indexOf(':');
  if (secret === undefined && colon >= 0) {
    name = username.slice(0, colon);
    secret = username.slice(colon + 1);
  }
  if (secret === undefined) {
    throw new InvalidArgumentError('password', `No password was given for etcd user ${JSON.stringify(name)}`);
  }
  const auth = { username: name } as NonNullable<IOptions['auth']>;
  Object.defineProperty(auth, 'password', { value: secret, enumerable: false });
  return auth;
}

function readPem(argument: string, path: string): Buffer {
  let pem: Buffer;
  try {
    pem = readFileSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new InvalidArgumentError(argument, `Cannot read ${argument} ${JSON.stringify(path)}: ${code}`);
  }
  if (!pem.includes('-----BEGIN ')) {
    throw new InvalidArgumentError(argument, `${argument} ${JSON.stringify(path)} holds no PEM block (-----BEGIN ...)`);
  }
  return pem;
}
