import http from 'node:http';

/** One request as the test receiver saw it, and what it answered. */
export interface Received {
  headers: Record<string, string>;
  body: string;
  answered: number | 'timeout';
}

/**
 * A webhook receiver on 127.0.0.1 that can be down (not listening), answer 500, never answer
 * (the sender's timeout), or accept (200), in the order a test scripts it.
 */
export async function startReceiver() {
  const received: Received[] = [];
  /** What the next requests get, in order; once used up, 200. */
  const script: ('fail' | 'hang')[] = [];
  const hanging = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const step = script.shift();
      const entry: Received = { headers: req.headers as Record<string, string>, body: Buffer.concat(chunks).toString('utf8'), answered: 200 };
      received.push(entry);
      if (step === 'hang') {
        entry.answered = 'timeout';
        hanging.add(res); // answered never; the sender gives up
        return;
      }
      entry.answered = step === 'fail' ? 500 : 200;
      res.writeHead(entry.answered).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const listening = () => server.listening;
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    received,
    script,
    /** Stops listening: connections are refused until `up()`. */
    async down() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
    async up() {
      if (!listening()) await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    },
    /** The requests it accepted (answered 200). */
    accepted: () => received.filter((r) => r.answered === 200),
    async stop() {
      if (!listening()) return;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}
