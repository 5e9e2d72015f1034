import pg from 'pg';
import type { Logger } from '../log';

/** The channel the change_events triggers notify on (migrations/011_change_events.sql); payload `<userId>:<eventId>`. */
export const EVENTS_CHANNEL = 'change_events';

type Listener = (eventId: number) => void;

/**
 * One LISTEN connection per API process, fanning notifications out to the streams of each user
 * (never a PostgreSQL connection per stream). Connected when the first stream opens; a lost
 * connection is re-established with backoff, and every listener is then told to catch up (a
 * notification sent while it was down is not replayed by PostgreSQL; the log is).
 */
export class EventHub {
  private client?: pg.Client;
  private connecting?: Promise<void>;
  private readonly listeners = new Map<string, Set<Listener>>();
  private closed = false;
  private retryMs = 500;
  /** Notifications received (for the bench and tests). */
  notifications = 0;

  constructor(
    private readonly connection: pg.ClientConfig,
    private readonly log: Logger,
  ) {}

  /** Calls `listener` with the id of each new event of the user; resolves once LISTEN is in place. */
  async subscribe(userId: string, listener: Listener): Promise<() => void> {
    await this.connect();
    let set = this.listeners.get(userId);
    if (!set) this.listeners.set(userId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.listeners.get(userId) === set) this.listeners.delete(userId);
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private connect(): Promise<void> {
    if (this.client) return Promise.resolve();
    this.connecting ??= this.open().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async open(): Promise<void> {
    const client = new pg.Client({ ...this.connection, application_name: 'email-change-events' });
    client.on('notification', (msg) => this.dispatch(msg.payload));
    client.on('error', (err) => this.lost(client, err));
    client.on('end', () => this.lost(client));
    try {
      await client.connect();
      await client.query(`LISTEN ${EVENTS_CHANNEL}`);
    } catch (err) {
      client.removeAllListeners('end');
      await client.end().catch(() => undefined);
      throw err;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      throw new Error('the event hub is closed');
    }
    this.client = client;
    this.retryMs = 500;
  }

  private dispatch(payload: string | undefined): void {
    this.notifications++;
    const at = payload?.lastIndexOf(':') ?? -1;
    if (at < 0) return;
    const set = this.listeners.get(payload!.slice(0, at));
    if (!set) return;
    const id = Number(payload!.slice(at + 1));
    for (const listener of set) listener(id);
  }

  private lost(client: pg.Client, err?: Error): void {
    if (this.client !== client) return;
    this.client = undefined;
    client.removeAllListeners('end');
    client.end().catch(() => undefined);
    if (this.closed) return;
    this.log.warn({ err: err?.message }, 'event stream LISTEN connection lost; reconnecting');
    const retry = () => {
      if (this.closed || this.listeners.size === 0) return; // the next stream connects again
      this.connect().then(
        () => this.catchUpAll(),
        () => {
          this.retryMs = Math.min(this.retryMs * 2, 30_000);
          setTimeout(retry, this.retryMs).unref();
        },
      );
    };
    setTimeout(retry, this.retryMs).unref();
  }

  /** After a reconnect: every stream re-reads its status (what changed meanwhile is in PostgreSQL). */
  private catchUpAll(): void {
    for (const set of this.listeners.values()) for (const listener of set) listener(0);
  }
}
