/**
 * Operator commands for a user's email change (issue #13; docs/operations.md "Stuck or terminated runs").
 *
 *   npm run change -- show <userId> [--decode]            the user's request rows still pending (or the latest
 *                                                        one) and the workflow run: ids and states; addresses
 *                                                        only with --decode
 *   npm run change -- cancel <userId> [--reason "…"]     an open run: sends the workflow's cancel Update (the
 *                                                        workflow records CANCELLED, no mail); no open run: closes
 *                                                        the user's REQUESTED rows as CANCELLED ("ended by an
 *                                                        operator: <reason>"); terminates nothing
 *   npm run change -- unblock <userId>                   issue #15: lifts the pause on email changes that an undo
 *                                                        from the previous address set (REVERT_LOCK); exit 3 if none
 *
 * Exit codes: 0 done, 1 unexpected error, 2 usage or configuration, 3 nothing pending (no open run, no
 * REQUESTED row), 4 the open run refused or did not answer (being applied, or no worker): nothing changed.
 * Reads DATABASE_URL, TEMPORAL_* and PAYLOAD_KEYS like the service.
 */
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { exitOnConfigError } from '../src/entry';
import { createPool } from '../src/db/pool';
import { createLogger } from '../src/log';
import { createTemporalClient } from '../src/api/server';
import { temporalConnectionOptions } from '../src/temporal-connection';
import { isClosedWorkflowError } from '../src/email-change/errors';
import { Reconciler, type RunFacts } from '../src/email-change/reconcile';
import { RequestRows, type RequestRow } from '../src/email-change/requests';
import { liftChangeBlock } from '../src/email-change/revert';
import { cancelUpdate, workflowIdFor, type ChangeStatus } from '../src/workflows/messages';

const USAGE = 'usage: npm run change -- show <userId> [--decode] | cancel <userId> [--reason "…"] | unblock <userId>\n';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DEADLINE_MS = 15_000;

function parse(args: string[]): { command: 'show' | 'cancel' | 'unblock'; userId: string; decode: boolean; reason?: string } | undefined {
  const [command, userId, ...rest] = args;
  if (!(command === 'show' || command === 'cancel' || command === 'unblock') || !userId || !UUID.test(userId)) return undefined;
  if (command === 'unblock' && rest.length > 0) return undefined;
  let decode = false;
  let reason: string | undefined;
  for (let i = 0; i < rest.length; i++) {
    if (command === 'show' && rest[i] === '--decode') decode = true;
    else if (command === 'cancel' && rest[i] === '--reason' && rest[i + 1]?.trim()) reason = rest[++i]!.trim();
    else return undefined;
  }
  return { command, userId, decode, reason };
}

async function main(args: string[]): Promise<number> {
  const parsed = parse(args);
  if (!parsed) {
    process.stderr.write(USAGE);
    return 2;
  }
  const config = exitOnConfigError();
  if (!config.databaseUrl || !config.temporal.address) {
    process.stderr.write('DATABASE_URL and TEMPORAL_ADDRESS are required (the PostgreSQL and Temporal the service uses)\n');
    return 2;
  }
  const pool = createPool(config.databaseUrl, 2, createLogger(config.logLevel, { service: 'change' }));
  const temporal = createTemporalClient(temporalConnectionOptions(config), config.temporal.namespace, config.payloadKeys);
  const reconciler = new Reconciler(pool, temporal);
  const rows = new RequestRows(pool);
  const out = (line: string) => process.stdout.write(`${line}\n`);
  try {
    const { userId } = parsed;
    if (parsed.command === 'unblock') {
      const lifted = await liftChangeBlock(pool, userId);
      out(lifted ? `unblocked\tuser ${userId}: email changes are allowed again` : `nothing blocked\tuser ${userId} has no pause on email changes`);
      return lifted ? 0 : 3;
    }
    const pendingIds = (await pool.query<{ id: string }>(`SELECT id FROM email_change_requests WHERE user_id = $1 AND state = 'REQUESTED' ORDER BY created_at`, [userId])).rows;
    const pending = (await Promise.all(pendingIds.map(({ id }) => rows.byId(id)))).filter((r): r is RequestRow => r !== undefined);
    const run = await reconciler.describe(userId, DEADLINE_MS);

    if (parsed.command === 'show') {
      const shown = pending.length ? pending : [await rows.current(userId)].filter((r): r is NonNullable<typeof r> => r !== undefined);
      if (!shown.length) out('change\tnone');
      for (const row of shown) out(rowLine(row, parsed.decode));
      out(runLine(run));
      return 0;
    }

    if (run.status === 'RUNNING') {
      try {
        const status = await temporal.connection.withDeadline(Date.now() + DEADLINE_MS, () =>
          temporal.workflow.getHandle(workflowIdFor(userId)).executeUpdate(cancelUpdate, { args: [{}] }),
        );
        out(`cancelled\tchange ${(status as ChangeStatus).id}\tby the workflow's cancel Update: state ${(status as ChangeStatus).state}`);
        if (parsed.reason) out(`note\tthe workflow records its own reason ("cancelled by the user"); --reason applies only to closing a row`);
        return 0;
      } catch (err) {
        const cause = err instanceof WorkflowUpdateFailedError ? err.cause : undefined;
        if (cause instanceof ApplicationFailure && cause.type) {
          out(`refused\t${run.workflowId} run ${run.runId}: ${cause.type}: ${cause.message}; nothing changed`);
          return 4;
        }
        if (!isClosedWorkflowError(err)) {
          out(`no answer\t${run.workflowId} run ${run.runId} is open but did not take the Update (${err instanceof Error ? err.message : String(err)}); is a worker running? nothing changed`);
          return 4;
        }
        // The run closed meanwhile: its rows are handled below like any run that is gone.
      }
    }

    const ended = run.status === 'RUNNING' ? (await reconciler.describe(userId, DEADLINE_MS)).status : run.status;
    let closed = 0;
    for (const row of pending) {
      if (await reconciler.close(row, { kind: 'ended', runStatus: ended }, parsed.reason ?? `cancelled with npm run change (workflow run ${ended.toLowerCase()})`)) {
        out(`closed\tchange ${row.id}\tCANCELLED (workflow run ${ended}; nothing terminated)`);
        closed++;
      }
    }
    if (closed === 0) {
      out(`nothing pending\tno REQUESTED row and no open run (${runLine(run)})`);
      return 3;
    }
    return 0;
  } finally {
    await temporal.connection.close().catch(() => undefined);
    await pool.end();
  }
}

function rowLine(row: RequestRow, decode: boolean): string {
  const fields = [`change ${row.id}`, `state ${row.state}`, `kind ${row.kind}`, `created ${row.createdAt.toISOString()}`, `expires ${row.expiresAt.toISOString()}`];
  if (row.reason) fields.push(`reason "${row.reason}"`);
  if (decode) fields.push(`new ${row.newEmail}`, `old ${row.oldEmail ?? '-'}`);
  return `change\t${fields.join('\t')}`;
}

function runLine(run: RunFacts): string {
  return run.status === 'NOT_FOUND'
    ? `run\t${run.workflowId}\tNOT_FOUND`
    : `run\t${run.workflowId}\trun ${run.runId}\t${run.status}\tstarted ${run.startTime?.toISOString() ?? '-'}`;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
