import type { Writable } from 'node:stream';
import type pg from 'pg';
import type { Logger } from '../log';
import { AppError } from '../api/errors';
import type { EventHub } from './hub';

/**
 * Issue #14: the live status streams of one API process (GET /v1/email/change/events). Each event
 * is the user's status as `GET /v1/email/change` answers it (a snapshot), with the id of the latest
 * log event (change_events) it includes; a notification for the user makes every stream of that
 * user re-read the status once (one read shared by all the user's streams in this process) and send
 * it if it differs from what the stream sent last. A snapshot taken after a notification includes
 * that event, so no change is missed; several changes in quick succession may arrive as one event.
 */

export interface StreamLimits {
  heartbeatMs: number;
  maxPerUser: number;
  maxPerProcess: number;
  maxAgeMs: number;
}

/** The user's status as the GET endpoint answers it. */
export type StatusBody = (userId: string) => Promise<unknown>;

interface Stream {
  out: Writable;
  lastId: number;
  lastData?: string;
  /** Its first event (the status when it opened) is written; until then the shared reads pass it by. */
  ready: boolean;
  /** A shared read passed it by: one more after its first event. */
  missed: boolean;
  /** Ends the stream (and frees its place); idempotent. */
  end(): void;
}

/** The streams of one user in this process, and the one status read they share. */
interface Feed {
  userId: string;
  streams: Set<Stream>;
  reading: boolean;
  again: boolean;
  unsubscribe?: () => void;
}

/** Bytes a stream may have waiting for a client that does not read before it is ended. */
const MAX_BUFFERED = 256 * 1024;

export const SSE_HEADERS = {
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Cache-Control': 'no-cache, no-store, no-transform',
  'X-Accel-Buffering': 'no', // nginx: pass each event on at once
} as const;

export class EventStreams {
  private readonly feeds = new Map<string, Feed>();
  private open = 0;
  private heartbeat?: NodeJS.Timeout;
  private closing = false;

  constructor(
    private readonly hub: EventHub,
    private readonly pool: pg.Pool,
    private readonly statusBody: StatusBody,
    private readonly limits: StreamLimits,
    private readonly log: Logger,
  ) {}

  /** Streams open in this process. */
  get size(): number {
    return this.open;
  }

  /** Refuses a stream over the per-user or per-process limit (429), before anything is written. */
  admit(userId: string): void {
    if (this.closing) throw new AppError(503, 'UNAVAILABLE', 'This server is shutting down; reconnect', undefined, { 'Retry-After': '1' });
    const mine = this.feeds.get(userId)?.streams.size ?? 0;
    if (mine >= this.limits.maxPerUser) {
      throw new AppError(429, 'RATE_LIMITED', `At most ${this.limits.maxPerUser} status streams per user are open at once; close one first`, { limit: this.limits.maxPerUser }, { 'Retry-After': '5' });
    }
    if (this.open >= this.limits.maxPerProcess) {
      throw new AppError(429, 'RATE_LIMITED', 'Too many status streams are open on this server; try again shortly', undefined, { 'Retry-After': '5' });
    }
  }

  /**
   * Attaches `out` as a stream of the user: subscribes (LISTEN is in place before the first read, so
   * nothing committed after that read goes unnoticed), then sends the current status.
   */
  async attach(userId: string, out: Writable): Promise<void> {
    this.admit(userId);
    let feed = this.feeds.get(userId);
    if (!feed) {
      feed = { userId, streams: new Set(), reading: false, again: false };
      this.feeds.set(userId, feed);
    }
    const f = feed;
    const maxAge = setTimeout(() => stream.end(), this.limits.maxAgeMs * (0.9 + Math.random() * 0.1)); // spread reconnects
    maxAge.unref();
    const stream: Stream = {
      out,
      lastId: 0,
      ready: false,
      missed: false,
      end: () => {
        clearTimeout(maxAge);
        if (!f.streams.delete(stream)) return;
        this.open--;
        if (f.streams.size === 0 && this.feeds.get(userId) === f) {
          this.feeds.delete(userId);
          f.unsubscribe?.();
        }
        if (!out.writableEnded) out.end();
      },
    };
    f.streams.add(stream);
    this.open++;
    out.once('close', stream.end);
    this.startHeartbeat();
    try {
      if (!f.unsubscribe) {
        const unsubscribe = await this.hub.subscribe(userId, () => this.refresh(f));
        if (this.feeds.get(userId) === f) f.unsubscribe = unsubscribe;
        else unsubscribe();
      }
      // Its own first read, so that PostgreSQL or Temporal out of reach is an error answer (503), not an empty stream.
      const { id, data } = await this.read(userId);
      stream.lastId = id;
      stream.lastData = data;
      stream.ready = true;
      this.send(stream, `id: ${id}\nevent: status\ndata: ${data}\n\n`);
    } catch (err) {
      stream.end();
      throw err;
    }
    if (stream.missed) this.refresh(f);
  }

  /** The latest event id of the user, then the status (which includes at least every event up to that id). */
  private async read(userId: string): Promise<{ id: number; data: string }> {
    const { rows } = await this.pool.query<{ id: string }>('SELECT coalesce(max(id), 0) AS id FROM change_events WHERE user_id = $1', [userId]);
    return { id: Number(rows[0]!.id), data: JSON.stringify(await this.statusBody(userId)) };
  }

  /** Writes unless the client stopped reading: a stream this far behind is ended (it reconnects and resumes). */
  private send(stream: Stream, text: string): void {
    if (stream.out.writableLength > MAX_BUFFERED) {
      stream.end();
      return;
    }
    stream.out.write(text);
  }

  /** Ends every stream (the server is shutting down; clients reconnect with Last-Event-ID elsewhere). */
  closeAll(): void {
    this.closing = true;
    for (const feed of [...this.feeds.values()]) for (const stream of [...feed.streams]) stream.end();
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    void this.hub.close();
  }

  /** One status read for all of the user's streams; a notification during a read makes one more. */
  private refresh(feed: Feed): void {
    if (feed.reading) {
      feed.again = true;
      return;
    }
    feed.reading = true;
    void (async () => {
      do {
        feed.again = false;
        if (feed.streams.size === 0) break;
        try {
          const { id, data } = await this.read(feed.userId);
          for (const stream of [...feed.streams]) {
            if (!stream.ready) {
              stream.missed = true;
              continue;
            }
            stream.lastId = Math.max(stream.lastId, id);
            if (stream.lastData === data) continue; // nothing a client shows changed
            stream.lastData = data;
            this.send(stream, `id: ${stream.lastId}\nevent: status\ndata: ${data}\n\n`);
          }
        } catch (err) {
          // PostgreSQL or Temporal out of reach: the streams stay open and catch up at the next event, or on reconnect.
          this.log.warn({ err: (err as Error).message, userId: feed.userId }, 'status stream read failed');
        }
      } while (feed.again);
      feed.reading = false;
    })();
  }

  /** One timer for every stream of the process: a comment line keeps proxies and clients from timing out. */
  private startHeartbeat(): void {
    if (this.heartbeat) return;
    this.heartbeat = setInterval(() => {
      if (this.open === 0) {
        clearInterval(this.heartbeat);
        this.heartbeat = undefined;
        return;
      }
      for (const feed of this.feeds.values()) for (const stream of [...feed.streams]) if (stream.ready) this.send(stream, ': heartbeat\n\n');
    }, this.limits.heartbeatMs);
    this.heartbeat.unref();
  }
}
