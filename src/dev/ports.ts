import net from 'node:net';

/** A TCP port on 127.0.0.1 that was free a moment ago. */
/**
 * A port nothing listens on, for a server started a moment later. Chosen below Linux's ephemeral
 * range (32768–60999): a port from that range can be taken meanwhile as the local end of an
 * outgoing connection (PostgreSQL, gRPC), and the server's bind then fails with EADDRINUSE.
 */
export async function freePort(): Promise<number> {
  for (let tries = 0; tries < 50; tries++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (await bindable(port)) return port;
  }
  return anyPort(); // a crowded range: let the kernel choose
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

function anyPort(): Promise<number> {
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
