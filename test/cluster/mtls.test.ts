import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { Connection, type TLSConfig } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../../src/dev/ports';
import { startSmtpCapture, type SmtpCapture } from '../../src/dev/smtp-capture';
import { clientTlsConfig, startTemporalCluster, type TemporalCluster } from '../../src/dev/temporal-cluster';
import { spawnApi, type ChildApi } from '../helpers/api-process';
import { linkIn, startChange, tokenOf, waitForStatus } from '../helpers/flow';
import { apiClient, signedInUser, uniqueEmail } from '../helpers/http';
import { serviceEnv } from '../helpers/services';
import { makeTestPki, type PemFiles, type TestPki } from './certificates';
import { spawnServiceWorker, type ServiceWorker } from './service-processes';

/**
 * Issue #13 item 3: the real Temporal server with TLS on the frontend and client certificates
 * required (mutual TLS), every certificate made here. Our API and worker (their production entry
 * points, in child processes) reach it only through Temporal's standard variables
 * (TEMPORAL_TLS_SERVER_CA_CERT_PATH, TEMPORAL_TLS_CLIENT_CERT_PATH / _KEY_PATH,
 * TEMPORAL_TLS_SERVER_NAME, read by src/temporal-connection.ts); a client without a certificate,
 * or with one from another CA, or without TLS, is refused by the server.
 */

let pki: TestPki;
let cluster: TemporalCluster;
let smtp: SmtpCapture;
let env: Record<string, string>;
let api: ChildApi;
let worker: ServiceWorker;
const extra: { kill(): Promise<string> }[] = [];

const clientCert = (pem: PemFiles) => ({ TEMPORAL_TLS_CLIENT_CERT_PATH: pem.certFile, TEMPORAL_TLS_CLIENT_KEY_PATH: pem.keyFile });

beforeAll(async () => {
  const dir = path.join(inject('tempDir'), 'mtls');
  pki = await makeTestPki(path.join(dir, 'pki'));
  cluster = await startTemporalCluster({
    databaseUrl: process.env.DATABASE_URL,
    dir: path.join(dir, 'cluster'),
    tls: {
      caFile: pki.ca.certFile,
      serverCertFile: pki.server.certFile,
      serverKeyFile: pki.server.keyFile,
      serverName: pki.serverName,
      internalCertFile: pki.internal.certFile,
      internalKeyFile: pki.internal.keyFile,
    },
  });
  smtp = await startSmtpCapture();
  env = {
    ...serviceEnv({ temporalAddress: cluster.address, databaseUrl: cluster.databaseUrl, smtpUrl: smtp.url, port: await freePort() }),
    ...cluster.clientEnv,
    ...clientCert(pki.service),
  };
  [api, worker] = await Promise.all([spawnApi(env), spawnServiceWorker(env)]);
  await Promise.all([api.ready, worker.ready]);
});

afterAll(async () => {
  await Promise.all(extra.map((p) => p.kill()));
  await api?.kill();
  await worker?.stop();
  await smtp?.stop();
  await cluster?.stop();
});

/** What the frontend answers a client with these TLS settings: 'connected', or the error that refused it. */
async function tryConnect(tls: TLSConfig | undefined): Promise<string> {
  try {
    const connection = await Connection.connect({ address: cluster.address, tls, connectTimeout: 5_000 });
    try {
      await connection.workflowService.describeNamespace({ namespace: cluster.namespace });
      return 'connected';
    } finally {
      await connection.close();
    }
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * The TLS handshake itself, as the frontend ends it: 'accepted' once the server answers the HTTP/2
 * preface gRPC starts with (TLS 1.3 checks the client's certificate after the client's side of the
 * handshake, so only an answer proves acceptance), else the alert it sent.
 */
function handshake(clientCert?: PemFiles): Promise<string> {
  const [host, port] = cluster.address.split(':') as [string, string];
  return new Promise((resolve) => {
    const socket = tls.connect({
      host,
      port: Number(port),
      servername: pki.serverName,
      ca: fs.readFileSync(pki.ca.certFile),
      ALPNProtocols: ['h2'],
      ...(clientCert ? { cert: fs.readFileSync(clientCert.certFile), key: fs.readFileSync(clientCert.keyFile) } : {}),
    });
    const done = (outcome: string) => {
      socket.destroy();
      resolve(outcome);
    };
    socket.once('secureConnect', () => socket.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])])));
    socket.once('data', () => done('accepted'));
    socket.once('error', (err: NodeJS.ErrnoException) => done(err.code ?? err.message));
    socket.once('close', () => done('closed without an answer'));
  });
}

describe('mutual TLS on the real cluster', () => {
  it('the frontend serves TLS and requires a client certificate from its CA (as configured)', () => {
    const frontend = cluster.processes.find((p) => p.role === 'frontend')!;
    const config = fs.readFileSync(frontend.configFile, 'utf8');
    expect(config).toMatch(/requireClientAuth: true/);
    expect(cluster.clientEnv).toMatchObject({ TEMPORAL_TLS_SERVER_CA_CERT_PATH: pki.ca.certFile, TEMPORAL_TLS_SERVER_NAME: pki.serverName });
  });

  it('our API and worker, configured through TEMPORAL_TLS_* only, run a complete add flow over HTTP', async () => {
    const http = apiClient(api.baseUrl);
    const ready = await http.get('/readyz');
    expect(ready.status, ready.text).toBe(200);
    const user = await signedInUser(http);
    const email = uniqueEmail('mtls');
    await startChange(http, user, email);
    const mail = await smtp.waitForMessage(email, { timeoutMs: 60_000 });
    const verified = await http.post('/v1/email/verify', { json: { token: tokenOf(linkIn(mail)) } });
    expect(verified.status, verified.text).toBe(200);
    await waitForStatus(http, user, (body) => body.change?.state === 'APPROVED', 60_000);
    expect((await http.get('/v1/me', { token: user.token })).body).toMatchObject({ email, emailVerified: true });
  });

  it('the server refuses a client without a certificate, with one from another CA, and without TLS; it accepts our certificate', async () => {
    const ca = fs.readFileSync(pki.ca.certFile);
    const withCert = (pem: PemFiles) => clientTlsConfig(cluster.tls!, pem);
    expect(await tryConnect(withCert(pki.service))).toBe('connected');
    const noCert = await tryConnect({ serverNameOverride: pki.serverName, serverRootCACertificate: ca });
    const strangerCert = await tryConnect(withCert(pki.stranger));
    const plain = await tryConnect(undefined);
    for (const refused of [noCert, strangerCert, plain]) expect(refused).not.toBe('connected');

    // Why, at the TLS layer: the server's alerts name the missing and the untrusted certificate.
    expect(await handshake(pki.service)).toBe('accepted');
    expect(await handshake()).toBe('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED');
    expect(await handshake(pki.stranger)).toMatch(/^ERR_SSL_(SSLV3_ALERT_BAD_CERTIFICATE|TLSV1_ALERT_UNKNOWN_CA)$/);
  });

  it('our worker with a certificate from another CA does not start; our API with one answers 503 and is not ready', async () => {
    const strangerEnv = { ...env, ...clientCert(pki.stranger) };
    const rejectedWorker = await spawnServiceWorker(strangerEnv);
    extra.push(rejectedWorker);
    await expect(rejectedWorker.ready).rejects.toThrow(/exited before it was ready/);
    expect(await rejectedWorker.exited).toBe('1');

    const rejectedApi = await spawnApi(strangerEnv);
    extra.push(rejectedApi);
    await rejectedApi.ready;
    const http = apiClient(rejectedApi.baseUrl);
    expect((await http.get('/readyz')).status).toBe(503);
    const user = await signedInUser(http);
    const start = await http.post('/v1/email/change', { token: user.token, json: { email: uniqueEmail('mtls-refused'), auth: { method: 'password', password: user.password } } });
    expect(start.status, start.text).toBe(503);
    expect(start.body.error.code).toBe('UNAVAILABLE');
  });
});
