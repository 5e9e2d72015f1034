import { loadClientConfigProfile, toClientOptions } from '@temporalio/envconfig';
import type { TLSConfig } from '@temporalio/client';
import type { Config } from './config';

/** How to reach Temporal beyond its address: what both Connection (API) and NativeConnection (worker) take. */
export interface TemporalConnectionOptions {
  tls?: TLSConfig | boolean;
  apiKey?: string;
  metadata?: Record<string, string>;
}

/**
 * Temporal's standard client configuration (@temporalio/envconfig): TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
 * TEMPORAL_API_KEY, TEMPORAL_TLS*, TEMPORAL_GRPC_META_*, and a TOML profile — read only when
 * TEMPORAL_CONFIG_FILE or TEMPORAL_PROFILE asks for one, so a developer's ~/.config/temporalio never
 * redirects a service silently. Variables win over the profile. Returns a message on a bad setting.
 */
export function temporalConnectionFromEnv(
  env: Record<string, string>,
): { address?: string; namespace: string; options: TemporalConnectionOptions } | string {
  try {
    const profile = loadClientConfigProfile({ overrideEnvVars: env, disableFile: !env.TEMPORAL_CONFIG_FILE && !env.TEMPORAL_PROFILE });
    const { connectionOptions, namespace } = toClientOptions(profile);
    const options: TemporalConnectionOptions = {};
    if (connectionOptions.tls !== undefined && connectionOptions.tls !== null) options.tls = connectionOptions.tls; // an API key alone turns TLS on
    if (connectionOptions.apiKey !== undefined) options.apiKey = connectionOptions.apiKey as string;
    if (connectionOptions.metadata && Object.keys(connectionOptions.metadata).length) options.metadata = connectionOptions.metadata as Record<string, string>;
    return { address: connectionOptions.address, namespace: namespace ?? 'default', options };
  } catch (err) {
    // Only the first line: never a key's or certificate's content.
    return `TEMPORAL_PROFILE / TEMPORAL_CONFIG_FILE / TEMPORAL_TLS_*: ${(err as Error).message.split('\n')[0]}`;
  }
}

/** Everything Connection.connect / NativeConnection.connect need, from the parsed config. */
export function temporalConnectionOptions(config: Config): TemporalConnectionOptions & { address: string } {
  if (!config.temporal.address) throw new Error('no Temporal address: set TEMPORAL_ADDRESS (or a TEMPORAL_PROFILE with one)');
  return { address: config.temporal.address, ...config.temporal.connection };
}
