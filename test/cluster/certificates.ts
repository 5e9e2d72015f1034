import fs from 'node:fs';
import path from 'node:path';
import { generate } from 'selfsigned';

export interface PemFiles {
  certFile: string;
  keyFile: string;
}

export interface TestPki {
  /** The cluster's CA: it signed the frontend's certificate and every client certificate the frontend accepts. */
  ca: PemFiles;
  /** The frontend's certificate, for `serverName` and 127.0.0.1. */
  server: PemFiles;
  serverName: string;
  /** The cluster's own client (its system worker). */
  internal: PemFiles;
  /** Our API's and worker's client certificate. */
  service: PemFiles;
  /** A client certificate from another CA, which the frontend must refuse. */
  stranger: PemFiles;
}

// ECDSA P-256 with SHA-256: accepted by Go's crypto/tls (no SHA-1), rustls (the worker) and Node (the API).
const KEYS = { keyType: 'ec', curve: 'P-256', algorithm: 'sha256' } as const;

async function authority(dir: string, name: string): Promise<PemFiles & { cert: string; key: string }> {
  const pem = await generate([{ name: 'commonName', value: name }], {
    ...KEYS,
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  return { ...write(dir, name, pem.cert, pem.private), cert: pem.cert, key: pem.private };
}

async function leaf(dir: string, name: string, ca: { cert: string; key: string }, usage: 'server' | 'client', altNames: { type: 2 | 7; value?: string; ip?: string }[]): Promise<PemFiles> {
  const pem = await generate([{ name: 'commonName', value: name }], {
    ...KEYS,
    ca,
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: usage === 'server', clientAuth: usage === 'client' },
      { name: 'subjectAltName', altNames },
    ],
  });
  return write(dir, name, pem.cert, pem.private);
}

function write(dir: string, name: string, cert: string, key: string): PemFiles {
  const certFile = path.join(dir, `${name.replace(/\W+/g, '-')}.pem`);
  const keyFile = path.join(dir, `${name.replace(/\W+/g, '-')}.key`);
  fs.writeFileSync(certFile, cert);
  fs.writeFileSync(keyFile, key, { mode: 0o600 });
  return { certFile, keyFile };
}

/** A fresh CA and the certificates of a mutual-TLS cluster test, as PEM files in `dir`. */
export async function makeTestPki(dir: string, serverName = 'temporal-frontend.test'): Promise<TestPki> {
  fs.mkdirSync(dir, { recursive: true });
  const ca = await authority(dir, 'cluster-ca');
  const other = await authority(dir, 'other-ca');
  return {
    ca,
    server: await leaf(dir, 'frontend', ca, 'server', [{ type: 2, value: serverName }, { type: 7, ip: '127.0.0.1' }]),
    serverName,
    internal: await leaf(dir, 'temporal-system-worker', ca, 'client', [{ type: 2, value: 'temporal-system-worker' }]),
    service: await leaf(dir, 'email-change-service', ca, 'client', [{ type: 2, value: 'email-change-service' }]),
    stranger: await leaf(dir, 'stranger', other, 'client', [{ type: 2, value: 'email-change-service' }]),
  };
}
