import net from 'node:net';
import { freePort } from '../../src/dev/ports';

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
