/**
 * A Server-Sent Events reader over fetch() streaming, as the demo page and an app read the stream
 * (not EventSource): parses `id:`, `event:`, `data:` fields and `:` comment lines as they arrive.
 */

export interface SseEvent {
  id: string;
  event: string;
  data: any;
}

export interface SseStream {
  status: number;
  headers: Headers;
  events: SseEvent[];
  comments: string[];
  /** Resolves with the first event (from the start of the stream) that matches. */
  waitFor(predicate: (e: SseEvent) => boolean, timeoutMs?: number): Promise<SseEvent>;
  waitForComment(text: string, timeoutMs?: number): Promise<void>;
  /** Resolves when the server ends the stream. */
  ended: Promise<void>;
  close(): void;
}

export async function openStream(baseUrl: string, token: string | undefined, headers: Record<string, string> = {}): Promise<SseStream> {
  const abort = new AbortController();
  const res = await fetch(`${baseUrl}/v1/email/change/events`, {
    headers: { accept: 'text/event-stream', ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
    signal: abort.signal,
  });
  const events: SseEvent[] = [];
  const comments: string[] = [];
  const waiters = new Set<() => void>();
  const wake = () => waiters.forEach((w) => w());
  let done = false;
  const ended = (async () => {
    if (!res.body || !res.headers.get('content-type')?.startsWith('text/event-stream')) return;
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const fields: Record<string, string> = {};
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) comments.push(line.slice(1).trim());
            else {
              const at = line.indexOf(':');
              fields[line.slice(0, at)] = (fields[line.slice(0, at)] ? `${fields[line.slice(0, at)]}\n` : '') + line.slice(at + 1).replace(/^ /, '');
            }
          }
          if (fields.data !== undefined) events.push({ id: fields.id ?? '', event: fields.event ?? 'message', data: JSON.parse(fields.data) });
        }
        wake();
      }
    } catch {
      // aborted by close()
    } finally {
      done = true;
      wake();
    }
  })();
  const wait = <T>(check: () => T | undefined, what: string, timeoutMs: number) =>
    new Promise<T>((resolve, reject) => {
      const test = () => {
        const found = check();
        if (found !== undefined) {
          waiters.delete(test);
          clearTimeout(timer);
          resolve(found);
        } else if (done) {
          waiters.delete(test);
          clearTimeout(timer);
          reject(new Error(`stream ended before ${what}; events: ${JSON.stringify(events.map((e) => [e.id, e.data.change?.state, e.data.change?.delivery?.new?.status]))}`));
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(test);
        reject(new Error(`timed out waiting for ${what}; events: ${JSON.stringify(events.map((e) => [e.id, e.data.change?.state, e.data.change?.delivery?.new?.status]))}`));
      }, timeoutMs);
      waiters.add(test);
      test();
    });
  return {
    status: res.status,
    headers: res.headers,
    events,
    comments,
    waitFor: (predicate, timeoutMs = 20_000) => wait(() => events.find(predicate), 'a matching event', timeoutMs),
    waitForComment: (text, timeoutMs = 20_000) => wait(() => (comments.includes(text) ? true : undefined), `comment "${text}"`, timeoutMs).then(() => undefined),
    ended,
    close: () => abort.abort(),
  };
}
