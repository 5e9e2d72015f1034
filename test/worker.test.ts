import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from './helpers/stack';

let stack: TestStack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack?.stop());

describe('the worker', () => {
  it('polls the real Temporal server and runs a workflow and an activity against PostgreSQL', async () => {
    const result = await stack.temporal.workflow.execute('ping', {
      taskQueue: stack.config.temporal.taskQueue,
      workflowId: `ping-${randomUUID()}`,
      args: ['test'],
    });
    expect(result).toMatch(/^pong test at \d{4}-\d{2}-\d{2}T/);
    expect(stack.worker.getState()).toBe('RUNNING');
  });
});
