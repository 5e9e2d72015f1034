import { DefaultLogger, makeTelemetryFilterString, Runtime, type LogLevel } from '@temporalio/worker';
import type { Logger } from './log';

const LEVELS: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

export interface TemporalRuntimeOptions {
  /** host:port where the SDK's own Prometheus exporter serves `/metrics` (workers, pollers, task latencies); off when unset. */
  sdkMetricsAddress?: string;
}

/**
 * Installs the Temporal SDK's runtime (once per process): its TS-side logs and the native core's logs
 * (forwarded, not printed to the console) go into our JSON log at warn and above; with
 * `sdkMetricsAddress`, the SDK's metrics are exported for Prometheus (src/observability/worker-health.ts
 * serves them with ours).
 */
export function installTemporalRuntime(log: Logger, options: TemporalRuntimeOptions = {}): void {
  const sdkLog = log.child({ component: 'temporal-sdk' });
  Runtime.install({
    logger: new DefaultLogger('WARN', ({ level, message, meta }) => sdkLog[LEVELS[level]](meta ?? {}, message)),
    telemetryOptions: {
      logging: { filter: makeTelemetryFilterString({ core: 'WARN', other: 'ERROR' }), forward: {} },
      ...(options.sdkMetricsAddress ? { metrics: { prometheus: { bindAddress: options.sdkMetricsAddress } } } : {}),
    },
  });
}
