import { SMTPServer } from 'smtp-server';
import { simpleParser } from 'mailparser';
import { freePort } from './ports';

export interface CapturedMail {
  id: number;
  receivedAt: Date;
  from: string;
  to: string[];
  subject: string;
  messageId: string;
  text: string;
  html?: string;
  /** Every http(s) link in the text part, in order. */
  links: string[];
  headers: Record<string, string>;
  /** The MAIL FROM and RCPT TO command lines as they came over the wire (smtp-server decodes punycode in `to`). */
  envelope: string[];
}

export interface SmtpCapture {
  url: string;
  port: number;
  messages(): CapturedMail[];
  /** Mail to one address (case-insensitive), oldest first. */
  messagesTo(address: string): CapturedMail[];
  /** Resolves with the first message to `address` after the `seen` earlier ones. */
  waitForMessage(address: string, opts?: { seen?: number; timeoutMs?: number }): Promise<CapturedMail>;
  /** Resolves with the first message to `address` whose id is above `afterId`, or undefined after `timeoutMs`. */
  nextMessage(address: string, afterId: number, timeoutMs: number): Promise<CapturedMail | undefined>;
  /** The next `count` deliveries are answered with this SMTP reply instead of being accepted. */
  failNext(count: number, code: number, message?: string): void;
  /** The next `count` deliveries to `address` are answered with this SMTP reply (mail to others goes through). */
  failMailTo(address: string, count: number, code: number, message?: string): void;
  /**
   * Mail to `address` from now on is read to its final dot and then never answered, so the sender
   * is stuck mid-transaction (the fault tests kill it there); resolves once the first is held.
   */
  holdMailTo(address: string): Promise<{ to: string[]; size: number }>;
  /** Accepts mail to `address` only `ms` after its data arrived (a slow relay), until stopHolding. */
  delayMailTo(address: string, ms: number): void;
  /** Accepts mail to `address` normally again (a transaction held earlier stays held). */
  stopHolding(address: string): void;
  /** Held transactions dropped because the client went away, as a real MTA drops what it never acknowledged. */
  dropped(): number;
  stop(): Promise<void>;
}

const LINK = /https?:\/\/[^\s<>"')]+/g;

const NON_ASCII = /[\u0080-\u{10FFFF}]/u;

/**
 * A real SMTP server (the `smtp-server` package) that keeps every message in memory. It offers
 * SMTPUTF8 (RFC 6531) unless `smtpUtf8: false`; then, like a relay without it, it neither
 * advertises it nor takes a non-ASCII address (553 5.6.7).
 */
export async function startSmtpCapture(opts: { port?: number; maxMessages?: number; smtpUtf8?: boolean } = {}): Promise<SmtpCapture> {
  const smtpUtf8 = opts.smtpUtf8 ?? true;
  // The envelope's command lines per connection: smtp-server hands addresses over with punycode decoded.
  const wire = new Map<string, string[]>();
  const noop = () => undefined;
  const logger = {
    trace: noop, info: noop, warn: noop, error: noop, fatal: noop,
    debug(entry: { tnx?: string; cid?: string; command?: string }, ...args: unknown[]) {
      if (entry?.tnx !== 'command' || !entry.cid || (entry.command !== 'MAIL' && entry.command !== 'RCPT')) return;
      const line = String(args[args.length - 1]);
      wire.set(entry.cid, [...(entry.command === 'MAIL' ? [] : (wire.get(entry.cid) ?? [])), line]);
    },
  };
  const refuseUtf8 = (session: { id: string; envelope: { smtpUtf8?: boolean } }) =>
    NON_ASCII.test(wire.get(session.id)?.at(-1) ?? '') && !(smtpUtf8 && session.envelope.smtpUtf8)
      ? Object.assign(new Error('5.6.7 Non-ASCII addresses need SMTPUTF8, which this server does not offer'), { responseCode: 553 })
      : null;
  const store: CapturedMail[] = [];
  const waiters = new Set<() => void>();
  type Fault = { code: number; message: string };
  const faults: Fault[] = [];
  const faultsTo = new Map<string, Fault[]>();
  const holds = new Map<string, (held: { to: string[]; size: number }) => void>();
  const heldSessions = new Set<string>();
  const delays = new Map<string, number>();
  let droppedCount = 0;
  let nextId = 1;

  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    hideSMTPUTF8: !smtpUtf8,
    size: 1024 * 1024,
    logger,
    // Pooled clients keep connections open: stop() closes them after 1 s, not smtp-server's 30 s.
    closeTimeout: 1_000,
    onMailFrom(address, session, callback) {
      callback(refuseUtf8(session));
    },
    onRcptTo(address, session, callback) {
      callback(refuseUtf8(session));
    },
    onClose(session) {
      wire.delete(session.id);
      if (heldSessions.delete(session.id)) droppedCount++;
    },
    onData(stream, session, callback) {
      const to = session.envelope.rcptTo.map((r) => r.address.toLowerCase());
      const hold = to.map((t) => holds.get(t)).find(Boolean);
      if (hold) {
        let size = 0;
        stream.on('data', (chunk: Buffer) => (size += chunk.length));
        stream.on('end', () => hold({ to, size }));
        heldSessions.add(session.id); // never called back: no 250, no error
        return;
      }
      const delayMs = Math.max(0, ...to.map((t) => delays.get(t) ?? 0));
      if (delayMs > 0) {
        const accept = callback;
        callback = (err?: Error | null) => void setTimeout(() => accept(err), delayMs);
      }
      const fault = to.map((t) => faultsTo.get(t)?.shift()).find(Boolean) ?? faults.shift();
      if (fault) {
        stream.resume();
        stream.on('end', () => callback(Object.assign(new Error(fault.message), { responseCode: fault.code })));
        return;
      }
      simpleParser(stream)
        .then((parsed) => {
          const text = parsed.text ?? '';
          store.push({
            id: nextId++,
            receivedAt: new Date(),
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            subject: parsed.subject ?? '',
            messageId: parsed.messageId ?? '',
            text,
            html: typeof parsed.html === 'string' ? parsed.html : undefined,
            links: text.match(LINK) ?? [],
            headers: Object.fromEntries([...parsed.headers].map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)])),
            envelope: wire.get(session.id) ?? [],
          });
          if (store.length > (opts.maxMessages ?? 1000)) store.shift();
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

  /** Resolves with what `find` returns once it returns something (checked on every delivery), or undefined after `timeoutMs`. */
  const waitFor = (find: () => CapturedMail | undefined, timeoutMs: number) =>
    new Promise<CapturedMail | undefined>((resolve) => {
      const done = (mail: CapturedMail | undefined) => {
        clearTimeout(timer);
        waiters.delete(wake);
        resolve(mail);
      };
      const wake = () => {
        const found = find();
        if (found) done(found);
      };
      const timer = setTimeout(() => done(undefined), timeoutMs);
      waiters.add(wake);
      wake();
    });

  const messagesTo = (address: string) =>
    store.filter((m) => m.to.some((to) => to.toLowerCase() === address.toLowerCase()));

  return {
    url: `smtp://127.0.0.1:${port}`,
    port,
    messages: () => [...store],
    messagesTo,
    async waitForMessage(address, { seen = 0, timeoutMs = 20_000 } = {}) {
      const found = await waitFor(() => messagesTo(address)[seen], timeoutMs);
      if (!found) throw new Error(`no mail #${seen + 1} to ${address} within ${timeoutMs} ms`);
      return found;
    },
    nextMessage: (address, afterId, timeoutMs) => waitFor(() => messagesTo(address).find((m) => m.id > afterId), timeoutMs),
    failNext(count, code, message = `${code} simulated failure`) {
      for (let i = 0; i < count; i++) faults.push({ code, message });
    },
    failMailTo(address, count, code, message = `${code} simulated failure`) {
      const queue = faultsTo.get(address.toLowerCase()) ?? [];
      for (let i = 0; i < count; i++) queue.push({ code, message });
      faultsTo.set(address.toLowerCase(), queue);
    },
    holdMailTo(address) {
      return new Promise((resolve) => holds.set(address.toLowerCase(), resolve));
    },
    delayMailTo(address, ms) {
      delays.set(address.toLowerCase(), ms);
    },
    stopHolding(address) {
      holds.delete(address.toLowerCase());
      delays.delete(address.toLowerCase());
    },
    dropped: () => droppedCount,
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
