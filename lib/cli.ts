#!/usr/bin/env node
/**
 * `etcd-concurrency`: put a shell command under a fair etcd lock or behind a leader election, and see
 * who holds what. Run `etcd-concurrency --help`; the commands live in `lib/cli/`.
 */
import { main } from './cli/main.js';
import { silenceLibraryWarnings } from './cli/warnings.js';

// gRPC's DEP0123 (a TLS server name that is an IP address) is no news to a CLI user; other warnings still print.
silenceLibraryWarnings();

// Exit explicitly: the etcd3 client can keep the event loop alive after close() (etcd3 issue #84).
process.exitCode = await main(process.argv.slice(2));
process.exit();
