import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generate } from 'selfsigned';
import { ConfigError, loadConfig } from '../src/config';
import { temporalConnectionOptions } from '../src/temporal-connection';

/** Issue #13 item 3: Temporal's standard environment configuration (@temporalio/envconfig) for TLS, mTLS and API keys. */

/** PEM bytes as text (envconfig hands out Uint8Arrays; both connections take them through Buffer.from). */
const text = (bytes: Uint8Array | undefined) => (bytes ? Buffer.from(bytes).toString('utf8') : undefined);

let dir: string;
let ca: { cert: string; key: string };
let client: { cert: string; key: string };
beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'temporal-tls-'));
  const caPem = await generate([{ name: 'commonName', value: 'test temporal CA' }], { keySize: 2048, extensions: [{ name: 'basicConstraints', cA: true }] });
  ca = { cert: caPem.cert, key: caPem.private };
  const leaf = await generate([{ name: 'commonName', value: 'email-change-worker' }], { keySize: 2048, ca: { cert: ca.cert, key: ca.key } });
  client = { cert: leaf.cert, key: leaf.private };
  fs.writeFileSync(path.join(dir, 'ca.pem'), ca.cert);
  fs.writeFileSync(path.join(dir, 'client.pem'), client.cert);
  fs.writeFileSync(path.join(dir, 'client.key'), client.key);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('the Temporal connection options (src/temporal-connection.ts)', () => {
  it('without TLS variables: our TEMPORAL_ADDRESS and TEMPORAL_NAMESPACE, plain gRPC', () => {
    const config = loadConfig({ TEMPORAL_ADDRESS: 'temporal:7233', TEMPORAL_NAMESPACE: 'wallet' });
    expect(config.temporal).toMatchObject({ address: 'temporal:7233', namespace: 'wallet' });
    expect(temporalConnectionOptions(config)).toEqual({ address: 'temporal:7233' });
    expect(loadConfig({}).temporal.namespace).toBe('default');
    expect(loadConfig({}).temporal.address).toBeUndefined();
  });

  it('mTLS from files: CA, client certificate and key, server name', () => {
    const options = temporalConnectionOptions(
      loadConfig({
        TEMPORAL_ADDRESS: 'temporal.internal:7233',
        TEMPORAL_TLS_SERVER_CA_CERT_PATH: path.join(dir, 'ca.pem'),
        TEMPORAL_TLS_CLIENT_CERT_PATH: path.join(dir, 'client.pem'),
        TEMPORAL_TLS_CLIENT_KEY_PATH: path.join(dir, 'client.key'),
        TEMPORAL_TLS_SERVER_NAME: 'temporal.internal',
      }),
    );
    expect(options.address).toBe('temporal.internal:7233');
    expect(options.apiKey).toBeUndefined();
    const tls = options.tls as { serverNameOverride?: string; serverRootCACertificate?: Uint8Array; clientCertPair?: { crt: Uint8Array; key: Uint8Array } };
    expect(tls.serverNameOverride).toBe('temporal.internal');
    expect(text(tls.serverRootCACertificate)).toBe(ca.cert);
    expect(text(tls.clientCertPair?.crt)).toBe(client.cert);
    expect(text(tls.clientCertPair?.key)).toBe(client.key);
  });

  it('mTLS from inline PEM data (a secret store that hands out values, not files)', () => {
    const tls = temporalConnectionOptions(
      loadConfig({ TEMPORAL_ADDRESS: 'temporal.internal:7233', TEMPORAL_TLS_CLIENT_CERT_DATA: client.cert, TEMPORAL_TLS_CLIENT_KEY_DATA: client.key }),
    ).tls as { clientCertPair?: { crt: Uint8Array; key: Uint8Array }; serverRootCACertificate?: Uint8Array };
    expect(text(tls.clientCertPair?.crt)).toBe(client.cert);
    expect(text(tls.clientCertPair?.key)).toBe(client.key);
    expect(tls.serverRootCACertificate).toBeUndefined(); // the system's roots
  });

  it('Temporal Cloud with an API key: TLS on, the key sent', () => {
    const config = loadConfig({ TEMPORAL_ADDRESS: 'eu-west-1.aws.api.temporal.io:7233', TEMPORAL_NAMESPACE: 'wallet.a1b2c', TEMPORAL_API_KEY: 'api-key-from-cloud' });
    expect(config.temporal.namespace).toBe('wallet.a1b2c');
    expect(temporalConnectionOptions(config)).toEqual({ address: 'eu-west-1.aws.api.temporal.io:7233', apiKey: 'api-key-from-cloud', tls: true });
  });

  it('TEMPORAL_TLS=true alone: TLS against the system roots; TEMPORAL_TLS=false turns it off even with an API key', () => {
    expect(temporalConnectionOptions(loadConfig({ TEMPORAL_ADDRESS: 't:7233', TEMPORAL_TLS: 'true' })).tls).toBeTruthy();
    expect(temporalConnectionOptions(loadConfig({ TEMPORAL_ADDRESS: 't:7233', TEMPORAL_TLS: 'false', TEMPORAL_API_KEY: 'k' })).tls).toBe(false);
  });

  it('a profile from TEMPORAL_CONFIG_FILE, with variables winning over it', () => {
    const file = path.join(dir, 'temporal.toml');
    fs.writeFileSync(
      file,
      [
        '[profile.default]',
        'address = "default.example:7233"',
        '[profile.prod]',
        'address = "prod.example:7233"',
        'namespace = "wallet-prod"',
        `[profile.prod.tls]`,
        `server_ca_cert_path = ${JSON.stringify(path.join(dir, 'ca.pem'))}`,
        `client_cert_path = ${JSON.stringify(path.join(dir, 'client.pem'))}`,
        `client_key_path = ${JSON.stringify(path.join(dir, 'client.key'))}`,
      ].join('\n'),
    );
    const prod = loadConfig({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'prod' });
    expect(prod.temporal).toMatchObject({ address: 'prod.example:7233', namespace: 'wallet-prod' });
    expect((prod.temporal.connection.tls as { clientCertPair?: unknown }).clientCertPair).toBeDefined();
    expect(loadConfig({ TEMPORAL_CONFIG_FILE: file }).temporal.address).toBe('default.example:7233');
    expect(loadConfig({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'prod', TEMPORAL_NAMESPACE: 'other' }).temporal.namespace).toBe('other');
  });

  it('a certificate file that cannot be read or a missing profile stops start-up with a ConfigError', () => {
    expect(() => loadConfig({ TEMPORAL_ADDRESS: 't:7233', TEMPORAL_TLS_CLIENT_CERT_PATH: path.join(dir, 'missing.pem'), TEMPORAL_TLS_CLIENT_KEY_PATH: path.join(dir, 'client.key') })).toThrow(ConfigError);
    expect(() => loadConfig({ TEMPORAL_CONFIG_FILE: path.join(dir, 'temporal.toml'), TEMPORAL_PROFILE: 'nope' })).toThrow(/Profile 'nope' not found/);
  });

  it('a key given inline never appears in the error message', () => {
    let message = '';
    try {
      loadConfig({ TEMPORAL_ADDRESS: 't:7233', TEMPORAL_TLS: 'maybe', TEMPORAL_TLS_CLIENT_KEY_DATA: client.key });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/TEMPORAL_TLS/);
    expect(message).not.toContain('PRIVATE KEY');
  });
});
