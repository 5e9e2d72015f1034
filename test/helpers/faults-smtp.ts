import { SMTPServer } from 'smtp-server';
import { simpleParser } from 'mailparser';
import { freePort } from '../../src/dev/ports';

export interface HeldMail {
  to: string[];
  /** Bytes of the message the server received before it held back its reply. */
  size: number;
}

export interface StoredMail {
  to: string[];
  subject: string;
  messageId: string;
  text: string;
  links: string[];
}

/**
 * A real SMTP server (smtp-server) like src/dev/smtp-capture.ts, plus a "hold" switch: a message to a
 * matching recipient is read to its final dot, then the server never answers it. The client is
 * stuck in the middle of sending; if its connection breaks before the answer, the message is
 * dropped, as a real MTA drops a transaction it never acknowledged.
 */
export interface HoldingSmtp {
  url: string;
  port: number;
  messages(): StoredMail[];
  messagesTo(address: string): StoredMail[];
  waitForMessage(address: string, opts?: { seen?: number; timeoutMs?: number }): Promise<StoredMail>;
  /** Holds every message to `address` from now on; resolves when the first one is fully received and held. */
  holdMailTo(address: string): Promise<HeldMail>;
  /** Accepts mail to `address` normally again (a transaction held earlier stays held). */
  stopHolding(address: string): void;
  /** How many held transactions were dropped because the client went away. */
  dropped(): number;
  stop(): Promise<void>;
}

const LINK = /https?:\/\/[^\s<>"')]+/g;

export async function startHoldingSmtp(opts: { port?: number } = {}): Promise<HoldingSmtp> {
  const store: StoredMail[] = [];
  const waiters = new Set<() => void>();
  const holds = new Map<string, (held: HeldMail) => void>();
  const heldSessions = new Set<string>();
  let droppedCount = 0;

  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    size: 1024 * 1024,
    logger: false,
    onClose(session) {
      if (heldSessions.delete(session.id)) droppedCount++;
    },
    onData(stream, session, callback) {
      const to = session.envelope.rcptTo.map((r) => r.address.toLowerCase());
      const hold = to.map((t) => holds.get(t)).find(Boolean);
      if (hold) {
        let size = 0;
        stream.on('data', (chunk: Buffer) => (size += chunk.length));
        stream.on('end', () => hold({ to, size }));
        // Never call back: no 250, no error. The transaction ends only when the client disconnects.
        heldSessions.add(session.id);
        return;
      }
      simpleParser(stream)
        .then((parsed) => {
          const text = parsed.text ?? '';
          store.push({ to, subject: parsed.subject ?? '', messageId: parsed.messageId ?? '', text, links: text.match(LINK) ?? [] });
          for (const wake of waiters) wake();
          callback();
        })
        .catch((err: Error) => callback(err));
    },
  });

  const port = opts.port ?? (await freePort());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  server.on('error', () => undefined);

  const messagesTo = (address: string) => store.filter((m) => m.to.includes(address.toLowerCase()));
  return {
    url: `smtp://127.0.0.1:${port}`,
    port,
    messages: () => [...store],
    messagesTo,
    waitForMessage(address, { seen = 0, timeoutMs = 20_000 } = {}) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = messagesTo(address)[seen];
          if (!found) return false;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(found);
          return true;
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no mail #${seen + 1} to ${address} within ${timeoutMs} ms`));
        }, timeoutMs);
        if (!check()) waiters.add(check);
      });
    },
    holdMailTo(address) {
      return new Promise((resolve) => holds.set(address.toLowerCase(), resolve));
    },
    stopHolding(address) {
      holds.delete(address.toLowerCase());
    },
    dropped: () => droppedCount,
    stop: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
      }),
  };
}
