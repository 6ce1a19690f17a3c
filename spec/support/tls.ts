import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A certificate and its private key, as files and as the PEM bytes etcd3 takes. */
export interface KeyPair {
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: Buffer;
  readonly key: Buffer;
}

/** A certificate authority: its certificate, and the pairs it signed. */
export interface Authority {
  readonly caFile: string;
  readonly ca: Buffer;
}

/**
 * Throwaway PKI generated with `openssl` at test time, in a temp dir: a CA, one server certificate
 * valid for `IP:127.0.0.1` and `DNS:localhost` (every member of a loopback cluster uses it, for
 * clients and peers), a client certificate signed by the same CA, and an unrelated second CA with a
 * client certificate of its own (the "wrong CA" cases). Remove it with {@link Pki.remove}.
 */
export interface Pki extends Authority {
  readonly dir: string;
  /** Server (and peer) certificate of every member. */
  readonly server: KeyPair;
  /** A client certificate signed by the cluster's CA (CN `client`). */
  readonly client: KeyPair;
  /** A different CA: etcd's certificate does not chain to it. */
  readonly otherCa: Authority;
  /** A client certificate signed by {@link otherCa}: etcd refuses it. */
  readonly strangerClient: KeyPair;
  /**
   * etcd flags for a member of a TLS-only cluster that requires client certificates
   * (`--client-cert-auth`), for clients and peers alike (`startCluster` gives both https URLs).
   * Pass as `startCluster({ tls: pki.flags })`.
   */
  flags(member: string): string[];
  /** Deletes the directory and every key in it. */
  remove(): Promise<void>;
}

async function openssl(dir: string, args: string[]): Promise<void> {
  try {
    await run('openssl', args, { cwd: dir });
  } catch (error) {
    const e = error as { code?: string; stderr?: string };
    if (e.code === 'ENOENT') {
      throw new Error('The TLS tests need the openssl binary (Debian: apt-get install openssl).', { cause: error });
    }
    throw new Error(`openssl ${args.join(' ')} failed: ${e.stderr ?? String(error)}`, { cause: error });
  }
}

/** A P-256 key and a self-signed CA certificate. */
async function makeCa(dir: string, name: string): Promise<Authority & { keyFile: string }> {
  const keyFile = join(dir, `${name}.key`);
  const caFile = join(dir, `${name}.crt`);
  await openssl(dir, [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', keyFile, '-out', caFile, '-days', '2', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return { caFile, ca: await readFile(caFile), keyFile };
}

/** A P-256 key and a certificate for it signed by `ca`, with the given X.509 v3 extensions. */
async function makePair(
  dir: string,
  ca: Authority & { keyFile: string },
  name: string,
  extensions: string[],
): Promise<KeyPair> {
  const keyFile = join(dir, `${name}.key`);
  const certFile = join(dir, `${name}.crt`);
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  await openssl(dir, [
    'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', keyFile, '-out', csr, '-subj', `/CN=${name}`,
  ]);
  await writeFile(ext, `${extensions.join('\n')}\n`);
  await openssl(dir, [
    'x509', '-req', '-in', csr, '-CA', ca.caFile, '-CAkey', ca.keyFile, '-CAcreateserial',
    '-out', certFile, '-days', '2', '-extfile', ext,
  ]);
  return { certFile, keyFile, cert: await readFile(certFile), key: await readFile(keyFile) };
}

/** Generates a {@link Pki} in a fresh temp dir (about 100 ms of openssl calls). */
export async function createPki(): Promise<Pki> {
  const dir = await mkdtemp(join(tmpdir(), 'etcd-concurrency-pki-'));
  try {
    const ca = await makeCa(dir, 'ca');
    const otherCa = await makeCa(dir, 'other-ca');
    const [server, client, strangerClient] = await Promise.all([
      makePair(dir, ca, 'server', [
        'subjectAltName=IP:127.0.0.1,DNS:localhost',
        // Peers present the same certificate as clients of each other.
        'extendedKeyUsage=serverAuth,clientAuth',
      ]),
      makePair(dir, ca, 'client', ['extendedKeyUsage=clientAuth']),
      makePair(dir, otherCa, 'stranger', ['extendedKeyUsage=clientAuth']),
    ]);
    return {
      dir,
      caFile: ca.caFile,
      ca: ca.ca,
      server,
      client,
      otherCa: { caFile: otherCa.caFile, ca: otherCa.ca },
      strangerClient,
      flags: () => [
        '--client-cert-auth=true',
        `--trusted-ca-file=${ca.caFile}`,
        `--cert-file=${server.certFile}`,
        `--key-file=${server.keyFile}`,
        '--peer-client-cert-auth=true',
        `--peer-trusted-ca-file=${ca.caFile}`,
        `--peer-cert-file=${server.certFile}`,
        `--peer-key-file=${server.keyFile}`,
      ],
      remove: () => rm(dir, { recursive: true, force: true }),
    };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}
