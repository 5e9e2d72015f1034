import type { BareInput } from './bare-messages';

/**
 * No-op bodies for the bare workflow. `bareSendMail` only tells the bench that the "mail" is out
 * (over IPC when the worker is a child process), which is where the real flow's mail would arrive
 * at the SMTP capture server.
 */
export function createBareActivities(onMail: (mail: { changeId: string; userId: string; tokenHash: string }) => void) {
  return {
    async bareRecordRequest(_input: BareInput): Promise<{ recorded: boolean }> {
      return { recorded: true };
    },
    async barePrepareLink(args: { changeId: string; to: string }): Promise<{ tokenHash: string; linkExpiresAt: number }> {
      return { tokenHash: `hash-${args.changeId}`, linkExpiresAt: Date.now() + 3_600_000 };
    },
    async bareSendMail(args: { changeId: string; userId: string; tokenHash: string }): Promise<{ sentAt: string }> {
      onMail(args);
      return { sentAt: new Date().toISOString() };
    },
    async bareApply(_args: { changeId: string; userId: string }): Promise<{ state: 'APPROVED'; reason: null }> {
      return { state: 'APPROVED', reason: null };
    },
  };
}

export type BareActivities = ReturnType<typeof createBareActivities>;
