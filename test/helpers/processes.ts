import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { inject } from 'vitest';
import type { Config } from '../../src/config';
import { freePort } from '../../src/dev/ports';

const ROOT = path.resolve(__dirname, '../..');

/** Starts test/helpers/worker-child.ts for this stack's task queue; resolves once it polls. */
export function startWorkerProcess(config: Config, temporalAddress = config.temporal.address!): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/worker-child.ts'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      NODE_ENV: 'test',
      DATABASE_URL: config.databaseUrl,
      TEMPORAL_ADDRESS: temporalAddress,
      TASK_QUEUE: config.temporal.taskQueue,
      SMTP_URL: config.smtpUrl,
      TOKEN_SECRET: config.tokenSecret,
      PUBLIC_BASE_URL: config.publicBaseUrl,
      WORKFLOW_BUNDLE: inject('workflowBundlePath'),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  return new Promise((resolve, reject) => {
    const onData = (c: Buffer) => {
      output += c.toString();
      if (output.includes('WORKER READY')) resolve(child);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
    child.once('exit', (code) => reject(new Error(`worker process exited (${code}): ${output}`)));
  });
}

export function kill(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

/** A TCP proxy whose client→server direction can be cut, to lose what a process tries to report. */
export async function startFreezableProxy(target: string) {
  const [host, port] = target.split(':') as [string, string];
  let frozen = false;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    if (frozen) return client.destroy();
    const upstream = net.connect(Number(port), host);
    sockets.add(client).add(upstream);
    client.on('data', (chunk) => {
      if (!frozen) upstream.write(chunk);
    });
    upstream.pipe(client);
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  });
  const listenPort = await freePort();
  await new Promise<void>((resolve) => server.listen(listenPort, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${listenPort}`,
    freeze: () => (frozen = true),
    stop: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
