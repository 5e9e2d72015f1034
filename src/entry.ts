import { ConfigError, loadConfig, type Config } from './config';

/** Loads the configuration for an entry point; a bad variable ends the process with a one-line message. */
export function exitOnConfigError(env: Record<string, string | undefined> = process.env): Config {
  try {
    return loadConfig(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
}
