
/**
 * `--temporal-tuned`: the dev server's own settings that matter for this flow, passed to
 * src/dev/temporal.ts as extra flags.
 *
 * - history.transferProcessorMaxPollRPS (default 20): the dev server has one history shard, and
 *   its transfer-queue reader may poll for new tasks only 20 times a second. Every workflow task
 *   that follows an activity or an Update waits for that poll: ~40 ms each once the limiter's
 *   burst is spent, ~5 of them per change. Likewise the timer and visibility queues.
 * - SQLite journal_mode=WAL, synchronous=NORMAL: the file database otherwise uses a rollback
 *   journal with a sync per commit.
 */
export const TUNED_TEMPORAL_ARGS = [
  '--dynamic-config-value', 'history.transferProcessorMaxPollRPS=1000',
  '--dynamic-config-value', 'history.timerProcessorMaxPollRPS=1000',
  '--dynamic-config-value', 'history.visibilityProcessorMaxPollRPS=1000',
  '--sqlite-pragma', 'journal_mode=wal',
  '--sqlite-pragma', 'synchronous=normal',
];
