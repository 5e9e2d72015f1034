/**
 * Operator commands for the payload keys (PAYLOAD_KEYS, issue #10).
 *
 *   npm run payload-keys -- in-use
 *
 * Lists every key id that the namespace's open runs still need, with how many runs need it; each
 * key of PAYLOAD_KEYS is listed, 0 when no open run uses it. Remove a key from PAYLOAD_KEYS only when
 * it shows 0 (and the namespace's retention has passed for closed histories you still want to read).
 * Reads PAYLOAD_KEYS and connects to Temporal like the service and the other operator scripts
 * (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS*, TEMPORAL_GRPC_META_*,
 * TEMPORAL_PROFILE / TEMPORAL_CONFIG_FILE: src/temporal-connection.ts); decrypts nothing.
 */
import { Client, Connection } from '@temporalio/client';
import { exitOnConfigError } from '../src/entry';
import { temporalConnectionOptions } from '../src/temporal-connection';
import { keysInUse } from '../src/codec/keys-in-use';

async function main(command: string | undefined): Promise<number> {
  if (command !== 'in-use') {
    process.stderr.write('usage: npm run payload-keys -- in-use\n');
    return 2;
  }
  const config = exitOnConfigError();
  if (!config.temporal.address) {
    process.stderr.write('TEMPORAL_ADDRESS (or a TEMPORAL_PROFILE with an address) is required: the Temporal server whose open runs to inspect\n');
    return 2;
  }
  const connection = await Connection.connect(temporalConnectionOptions(config));
  try {
    const inUse = await keysInUse(new Client({ connection, namespace: config.temporal.namespace }));
    const configured = config.payloadKeys.map((k) => k.id);
    const lines = [...new Set([...configured, ...inUse.keys()])].map((id) => {
      const runs = inUse.get(id) ?? 0;
      const role = id === configured[0] ? ' (encrypts new payloads)' : configured.includes(id) ? '' : ' (NOT in PAYLOAD_KEYS: these runs cannot go on)';
      return `${id}\t${runs} open run${runs === 1 ? '' : 's'}${role}`;
    });
    process.stdout.write(`key id\topen runs that need it (namespace ${config.temporal.namespace})\n${lines.join('\n')}\n`);
    return 0;
  } finally {
    await connection.close();
  }
}

main(process.argv[2]).then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
