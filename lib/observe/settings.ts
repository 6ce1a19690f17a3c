import type { MeterProvider } from '@opentelemetry/api';
import { InvalidArgumentError } from '../errors.js';

/** Options of {@link configureObservability}. */
export interface ObservabilityOptions {
  /**
   * The OpenTelemetry `MeterProvider` the library's instruments come from. `undefined` goes back to
   * the global one. Default: the global provider (`metrics.getMeterProvider()` of
   * `@opentelemetry/api`), a no-op until an SDK registers one; a provider registered later is
   * picked up by the next lock or session event.
   */
  meterProvider?: MeterProvider | undefined;
  /**
   * Whether lock metrics carry the lock's name, as attribute `lock.name`. Names such as `order:123`
   * would create one time series per entity, so the default is `false`: lock metrics are labelled by
   * lock kind only. `true` labels with the whole name; a function maps a name to a family
   * (`name => name.split(':')[0]`) and may return `undefined` to leave a name out. Election metrics
   * (the leader gauge, transitions) always carry the election's name, as Kubernetes' do. Default: `false`.
   */
  lockNames?: boolean | ((name: string) => string | undefined);
}

/** @internal The settings in force. */
export const settings: { meterProvider: MeterProvider | undefined; lockName: (name: string) => string | undefined } = {
  meterProvider: undefined,
  lockName: () => undefined,
};

/**
 * Sets where the library's metrics go and how they are labelled. Only the options given change.
 * Diagnostics channels need no setting: subscribe to them (see {@link channelNames}).
 *
 * @throws {InvalidArgumentError} a bad option.
 *
 * @example
 * ```ts
 * // Label lock metrics by family: "order:123" and "order:456" both count as "order".
 * configureObservability({ lockNames: name => name.split(':')[0] });
 * ```
 */
export function configureObservability(options: ObservabilityOptions): void {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('options', `configureObservability needs an options object. Got: ${String(options)}`);
  }
  if ('meterProvider' in options) {
    const provider = options.meterProvider;
    if (provider !== undefined && typeof provider?.getMeter !== 'function') {
      throw new InvalidArgumentError('meterProvider', `meterProvider must be an OpenTelemetry MeterProvider. Got: ${String(provider)}`);
    }
    settings.meterProvider = provider;
  }
  if ('lockNames' in options) {
    const names = options.lockNames;
    if (names === undefined || names === false) settings.lockName = () => undefined;
    else if (names === true) settings.lockName = name => name;
    else if (typeof names === 'function') settings.lockName = names;
    else throw new InvalidArgumentError('lockNames', `lockNames must be a boolean or a function. Got: ${String(names)}`);
  }
}
