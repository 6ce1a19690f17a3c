import { InvalidArgumentError } from '../errors.js';
import { Session } from './session.js';

/**
 * Checks that a lock kind was given a {@link Session}: `owner` names the kind with its article, as
 * the message says it (`A Mutex needs a Session. Got: …`).
 * @throws {InvalidArgumentError} anything else.
 */
export function requireSession(session: unknown, owner: string): void {
  if (!(session instanceof Session)) throw new InvalidArgumentError('session', `${owner} needs a Session. Got: ${String(session)}`);
}
