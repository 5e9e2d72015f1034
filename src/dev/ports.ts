import net from 'node:net';

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts TCP connections on host:port, or rejects after `timeoutMs`. */
export async function waitForPort(host: string, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host, port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${host}:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A port `npm start` binds, and the variable that chooses it. */
export interface WantedPort {
  variable: string;
  port: number;
  host?: string;
}

/**
 * Throws, naming the variable to change, when one of the ports is taken (checked before anything
 * is started, so a busy port fails in milliseconds instead of after Temporal and PostgreSQL are up).
 */
export async function assertPortsFree(wanted: WantedPort[]): Promise<void> {
  for (const { variable, port, host = '127.0.0.1' } of wanted) {
    if (port === 0) continue;
    const error = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
      const server = net.createServer();
      server.once('error', resolve);
      server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(undefined)));
    });
    if (error?.code === 'EADDRINUSE') throw new Error(`port ${port} is already in use; set ${variable} to a free port`);
    if (error) throw new Error(`cannot listen on ${host}:${port} (${variable}): ${error.code ?? error.message}`);
  }
}
