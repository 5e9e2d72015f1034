import net from 'node:net';

/**
 * A TCP proxy in front of a server that can swallow every reply while letting requests through:
 * the server acts on a call, the client never hears about it (a lost answer, as on a flaky network).
 */
export interface ReplyDroppingProxy {
  address: string;
  dropReplies(on: boolean): void;
  /** Closes every proxied connection (clients reconnect afresh). */
  cut(): void;
  stop(): Promise<void>;
}

export async function startReplyDroppingProxy(target: string): Promise<ReplyDroppingProxy> {
  const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
  let dropping = false;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(port, host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.on('data', (chunk) => upstream.write(chunk));
    upstream.on('data', (chunk) => {
      if (!dropping) client.write(chunk);
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const cut = () => sockets.forEach((s) => s.destroy());
  return {
    address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    dropReplies: (on) => {
      dropping = on;
    },
    cut,
    async stop() {
      cut();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
