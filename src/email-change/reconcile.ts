import type pg from 'pg';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { inTransaction } from '../db/pool';
import type { Logger } from '../log';
import { workflowIdFor } from '../workflows/messages';
import { callTemporal } from './temporal-call';
import { RequestRows, type RequestRow } from './requests';
import { SEARCH_ATTRIBUTES } from '../workflows/search-attributes';

/**
 * Issue #13: a request row follows its run's real end. A row is REQUESTED only while its run is open;
 * a run terminated from the UI, or lost with Temporal's data, or a row restored from a backup, never
 * records an outcome, so whoever finds such a row closes it (one conditional UPDATE) — the API on
 * every read of a pending row, and a periodic sweep for rows nobody reads.
 */

/** Reasons a closed row shows; `reasonCode` stays the state's own (CANCELLED, EXPIRED, SUPERSEDED). */
export const OPERATOR_REASON = 'ended by an operator';
const SUPERSEDED_REASON = 'a newer request replaced this one';

/**
 * A run started this long after a row was created is a newer request's run, not the row's own
 * (the API starts a run right after creating its input; this also absorbs clock skew between the
 * API hosts and Temporal). Below it the open run is taken to be the row's own: nothing is closed.
 */
export const OWN_RUN_START_MARGIN_MS = 5 * 60_000;
/** The sweep looks at rows this much past their deadline (the run expires them itself), or this old. */
export const SWEEP_EXPIRED_MARGIN_MS = 5 * 60_000;
export const SWEEP_MIN_AGE_MS = 30 * 60_000;
const SWEEP_BATCH = 200;
/** How often each API process tries to sweep (the advisory lock lets one of them at a time). */
export const SWEEP_INTERVAL_MS = 5 * 60_000;
/** One lock id for the sweep, so one API instance (or one `npm run reconcile`) sweeps at a time. */
const SWEEP_LOCK = 0x656d6368; // "emch"

/** The user's run as Temporal describes it: none, or its status and start time. */
export interface RunFacts {
  workflowId: string;
  runId?: string;
  status: string; // RUNNING, COMPLETED, TERMINATED, … or NOT_FOUND
  startTime?: Date;
}

export type Verdict = { kind: 'open' } | { kind: 'superseded' } | { kind: 'ended'; runStatus: string };

/**
 * What a REQUESTED row's run says about it. Only an open run started near the row's creation is its
 * own; a newer open run means the row was replaced (that run records it SUPERSEDED moments later);
 * no run, or a closed one, means the row's run is gone for good (a closed run never reopens, and a
 * run that ends on its own records its outcome before it closes).
 */
export function verdictOf(row: Pick<RequestRow, 'createdAt'>, run: RunFacts): Verdict {
  if (run.status !== 'RUNNING') return { kind: 'ended', runStatus: run.status };
  if (run.startTime && run.startTime.getTime() > row.createdAt.getTime() + OWN_RUN_START_MARGIN_MS) return { kind: 'superseded' };
  return { kind: 'open' };
}

/** How many "run seen open" facts a process keeps for status reads (a few MB at most). */
const OPEN_SEEN_MAX = 50_000;

/**
 * How often each API process asks Temporal's visibility for runs that closed while their state
 * search attribute still said REQUESTED (terminated from the UI, timed out, failed): one List call
 * finds them all, instead of a describe() per status read.
 */
export const WATCH_INTERVAL_MS = 1_000;
/** Each pass looks this far back before the previous one: visibility may index a close late. */
const WATCH_LOOKBACK_MS = 60_000;
/** How long one pass may ask visibility. */
const WATCH_DEADLINE_MS = 5_000;
/** Status reads trust the watcher while its last good pass is this recent. */
const WATCH_FRESH_MS = 5_000;

export class Reconciler {
  private readonly rows: RequestRows;
  /** Row id → when its run was last seen open. */
  private readonly openSeen = new Map<string, number>();
  /** Runs the watcher has handled (run id → close time), kept for the lookback so each is settled once. */
  private readonly watchedRuns = new Map<string, number>();
  private lastWatchOkAt = 0;
  private lastWatchStartedAt = 0;

  constructor(
    private readonly pool: pg.Pool,
    private readonly temporal: Client,
  ) {
    this.rows = new RequestRows(pool);
  }

  /** The user's latest run; Temporal out of reach (or slower than `deadlineMs`) is a 503 `UNAVAILABLE`. */
  async describe(userId: string, deadlineMs: number): Promise<RunFacts> {
    const workflowId = workflowIdFor(userId);
    try {
      const d = await callTemporal(this.temporal, deadlineMs, () => this.temporal.workflow.getHandle(workflowId).describe());
      return { workflowId, runId: d.runId, status: d.status.name, startTime: d.startTime };
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return { workflowId, status: 'NOT_FOUND' };
      throw err;
    }
  }

  /** Whether status reads may trust a run seen open: the watcher below catches runs that end without recording it. */
  get watching(): boolean {
    return Date.now() - this.lastWatchOkAt < WATCH_FRESH_MS;
  }

  /**
   * One watch pass: every run that closed while its state search attribute said REQUESTED (an
   * operator's terminate, a run timeout, a failure; also a run replaced by a newer start) has its
   * user's pending row settled against the latest run. Returns how many rows it closed.
   */
  async watchClosedRuns(log?: Logger): Promise<number> {
    const startedAt = Date.now();
    const since = new Date((this.lastWatchStartedAt || startedAt) - WATCH_LOOKBACK_MS).toISOString();
    const query = `WorkflowType = 'emailChange' AND ${SEARCH_ATTRIBUTES.state.name} = 'REQUESTED' AND ExecutionStatus != 'Running' AND CloseTime >= '${since}'`;
    // Under a gRPC deadline and awaited to the end: no call (or retry of one) outlives the pass.
    const ended = await this.temporal.connection.withDeadline(Date.now() + WATCH_DEADLINE_MS, async () => {
      const runs = [];
      for await (const run of this.temporal.workflow.list({ query })) if (!this.watchedRuns.has(run.runId)) runs.push(run);
      return runs;
    });
    let closed = 0;
    for (const run of ended) {
      const userId = run.typedSearchAttributes.get(SEARCH_ATTRIBUTES.userId.key);
      const row = userId ? await this.rows.current(userId) : undefined;
      if (row?.state === 'REQUESTED') {
        this.openSeen.delete(row.id);
        if ((await this.settle(row, 5_000)).state !== 'REQUESTED') closed++;
      }
      this.watchedRuns.set(run.runId, run.closeTime?.getTime() ?? startedAt);
    }
    for (const [runId, at] of this.watchedRuns) if (at < startedAt - 2 * WATCH_LOOKBACK_MS) this.watchedRuns.delete(runId);
    this.lastWatchStartedAt = startedAt;
    this.lastWatchOkAt = Date.now();
    if (closed) log?.info({ closed }, 'reconcile: closed request rows whose run had ended');
    return closed;
  }

  /**
   * The row's run just answered the start's `recorded` Update, so it is open now: status reads may trust
   * that as they trust a describe() (issue #12: a pending change's first read then costs no Temporal call;
   * the watcher closes the row if the run ends without recording it).
   */
  sawOpen(changeId: string): void {
    if (this.openSeen.size >= OPEN_SEEN_MAX) this.openSeen.clear();
    this.openSeen.set(changeId, Date.now());
  }

  /** A REQUESTED row as it stands once checked against its run: closed if the run is gone, else unchanged. */
  async settle(row: RequestRow, deadlineMs: number, trustOpenForMs = 0): Promise<RequestRow> {
    if (row.state !== 'REQUESTED') return row;
    // Status reads may trust a recent "its run is open" (issue #12: no Temporal call per read); acting paths never do.
    const seen = this.openSeen.get(row.id);
    if (trustOpenForMs > 0 && seen !== undefined && Date.now() - seen < trustOpenForMs) return row;
    const verdict = verdictOf(row, await this.describe(row.userId, deadlineMs));
    if (verdict.kind === 'open') {
      this.sawOpen(row.id);
      return row;
    }
    this.openSeen.delete(row.id);
    await this.close(row, verdict);
    return (await this.rows.byId(row.id)) ?? row;
  }

  /** Closes a REQUESTED row the run will never close; false if it was not REQUESTED any more. */
  async close(row: Pick<RequestRow, 'id' | 'expiresAt'>, verdict: Exclude<Verdict, { kind: 'open' }>, operatorReason?: string): Promise<boolean> {
    const [state, reason] =
      verdict.kind === 'superseded'
        ? ['SUPERSEDED', SUPERSEDED_REASON]
        : row.expiresAt.getTime() <= Date.now() && !operatorReason
          ? ['EXPIRED', `not confirmed before the request expired; its workflow run had ended (${runEnd(verdict.runStatus)})`]
          : ['CANCELLED', `${OPERATOR_REASON}: ${operatorReason ?? `the workflow run was ${runEnd(verdict.runStatus)}`}`];
    const { rowCount } = await this.pool.query(
      `UPDATE email_change_requests SET state = $2, reason = $3, completed_at = now(), updated_at = now() WHERE id = $1 AND state = 'REQUESTED'`,
      [row.id, state, reason],
    );
    return rowCount === 1;
  }

  /**
   * One sweep: REQUESTED rows past their deadline (plus a margin) or older than SWEEP_MIN_AGE_MS,
   * each checked against its run. Skipped (undefined) while another process holds the sweep lock.
   */
  async sweep(log?: Logger): Promise<{ checked: number; closed: number; unreachable: number } | undefined> {
    return inTransaction(this.pool, async (db) => {
      const { rows: locked } = await db.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS ok', [SWEEP_LOCK]);
      if (!locked[0]?.ok) return undefined;
      const { rows } = await db.query<{ id: string }>(
        `SELECT id FROM email_change_requests WHERE state = 'REQUESTED'
           AND (expires_at < now() - make_interval(secs => $1) OR created_at < now() - make_interval(secs => $2))
         ORDER BY expires_at LIMIT $3`,
        [SWEEP_EXPIRED_MARGIN_MS / 1000, SWEEP_MIN_AGE_MS / 1000, SWEEP_BATCH],
      );
      const result = { checked: 0, closed: 0, unreachable: 0 };
      for (const { id } of rows) {
        const row = await this.rows.byId(id);
        if (!row) continue;
        result.checked++;
        try {
          if ((await this.settle(row, 5_000)).state !== 'REQUESTED') result.closed++;
        } catch (err) {
          result.unreachable++;
          log?.warn({ err, changeId: id }, 'reconcile: could not check the run');
        }
      }
      return result;
    });
  }

  /**
   * Sweeps every `intervalMs` and watches for ended runs every WATCH_INTERVAL_MS, in the background
   * (unref'd); returns the stop function, which resolves once a watch pass under way has ended.
   */
  startTimer(intervalMs: number, log: Logger): () => Promise<void> {
    const timer = setInterval(() => {
      this.sweep(log).then(
        (r) => r?.closed && log.info(r, 'reconcile: closed request rows whose run had ended'),
        (err: unknown) => log.warn({ err }, 'reconcile: sweep failed'),
      );
    }, intervalMs);
    timer.unref();
    let stopped = false;
    let failing = false;
    let watch: NodeJS.Timeout | undefined;
    let pass: Promise<void> = Promise.resolve();
    const nextWatch = () => {
      if (stopped) return;
      // One pass at a time: the next is scheduled when this one ends. A failed pass makes status reads check the run again.
      watch = setTimeout(() => {
        pass = this.watchClosedRuns(log)
          .then(() => void (failing = false))
          .catch((err: unknown) => {
            if (!failing && !stopped) log.warn({ err }, 'reconcile: cannot list ended runs; status reads check each run with Temporal until it works again');
            failing = true;
          })
          .finally(nextWatch);
      }, WATCH_INTERVAL_MS);
      watch.unref();
    };
    nextWatch();
    return async () => {
      stopped = true;
      clearInterval(timer);
      clearTimeout(watch);
      await pass;
    };
  }
}

const runEnd = (status: string) => (status === 'NOT_FOUND' ? 'not found' : status.toLowerCase().replace('_', ' '));
