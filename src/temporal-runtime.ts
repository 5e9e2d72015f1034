import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';
import type { Logger } from './log';

const LEVELS: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/** Routes the Temporal SDK's own logs into our JSON log at warn and above (once per process). */
export function installTemporalRuntime(log: Logger): void {
  const sdkLog = log.child({ component: 'temporal-sdk' });
  Runtime.install({
    logger: new DefaultLogger('WARN', ({ level, message, meta }) => sdkLog[LEVELS[level]](meta ?? {}, message)),
  });
}
