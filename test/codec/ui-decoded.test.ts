import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import { Client, Connection } from '@temporalio/client';
import { startTemporalDevServer, type TemporalDevServer } from '../../src/dev/temporal';
import { freePort } from '../../src/dev/ports';
import { workflowIdFor } from '../../src/workflows/messages';
import { startStack, type TestStack } from '../helpers/stack';
import { startExtraApi, type FaultApi } from '../helpers/services';
import { apiClient, signedInUser, uniqueEmail } from '../helpers/http';
import { startChange } from '../helpers/flow';

/**
 * Issue #10: an operator opens a workflow in the Temporal UI and reads its decrypted input. A
 * Temporal dev server of this file's own, with its UI, has `--ui-codec-endpoint` pointing at the
 * test API's capability path (as `npm start` does); headless Chromium (Debian's `chromium`, driven
 * by playwright-core) loads the workflow page. Needs /usr/bin/chromium; without it this file fails.
 */

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const TOKEN = randomBytes(32).toString('base64url');

let temporal: TemporalDevServer;
let stack: TestStack;
let stackStopped = false;
let browser: Browser;
let port: number;
let uiUrl: string;
beforeAll(async () => {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: this test needs Debian's chromium (apt-get install -y chromium)`);
  // The UI learns the codec endpoint when it starts, so the API's port is chosen first.
  port = await freePort();
  const uiPort = await freePort();
  uiUrl = `http://127.0.0.1:${uiPort}`;
  temporal = await startTemporalDevServer({ uiPort, uiCodecEndpoint: `http://127.0.0.1:${port}/codec/${TOKEN}` });
  stack = await startStack({
    TEMPORAL_ADDRESS: temporal.address,
    PORT: String(port),
    PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
    CODEC_AUTH_TOKEN: TOKEN,
    CODEC_CORS_ORIGINS: `${uiUrl},http://localhost:${uiPort}`,
  });
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS, timeout: 60_000 });
});
afterAll(async () => {
  await browser?.close();
  if (!stackStopped) await stack?.stop();
  await temporal?.stop();
});

/** Undecoded, the UI shows the input as the ciphertext's base64 in quotes. */
const CIPHERTEXT_INPUT = /Input\s+"[A-Za-z0-9+/]{100,}={0,2}"/;

/** The visible text of the workflow's page in the UI once `ready` holds for it (or after 20 s). */
async function workflowPageText(workflowId: string, runId: string, ready: (text: string) => boolean): Promise<string> {
  const context = await browser.newContext();
  const page = await context.newPage();
  try {
    await page.goto(`${uiUrl}/namespaces/default/workflows/${encodeURIComponent(workflowId)}/${runId}/history`, { waitUntil: 'load', timeout: 30_000 });
    let text = '';
    for (const deadline = Date.now() + 20_000; Date.now() < deadline; await page.waitForTimeout(500)) {
      text = await page.locator('body').innerText();
      if (ready(text)) break;
    }
    return text;
  } finally {
    await context.close();
  }
}

describe('the Temporal UI with the codec server', () => {
  it('shows the decrypted new address; with a wrong token or no codec server it shows none', { timeout: 180_000 }, async () => {
    const api = apiClient(stack.baseUrl);
    const user = await signedInUser(api);
    const newEmail = uniqueEmail('ui-decoded');
    await startChange(api, user, newEmail);
    const workflowId = workflowIdFor(user.id);

    // What Temporal stores is ciphertext: a client without the codec sees no address.
    const connection = await Connection.connect({ address: temporal.address });
    try {
      const raw = new Client({ connection });
      const history = await raw.workflow.getHandle(workflowId).fetchHistory();
      const started = history.events![0]!.workflowExecutionStartedEventAttributes!;
      expect(Buffer.from(started.input!.payloads![0]!.metadata!.encoding!).toString()).toBe('binary/encrypted');
      expect(JSON.stringify(history)).not.toContain(newEmail);
    } finally {
      await connection.close();
    }
    const { runId } = await stack.temporal.workflow.getHandle(workflowId).describe();

    const decoded = await workflowPageText(workflowId, runId, (text) => text.includes(newEmail));
    expect(decoded).toContain(`"newEmail": "${newEmail}"`);
    expect(decoded).not.toMatch(CIPHERTEXT_INPUT);

    // The same UI, the API restarted on its port with another token: the UI's calls get 401.
    await stack.stop();
    stackStopped = true;
    let other: FaultApi | undefined = await startExtraApi(stack.env, { PORT: String(port), CODEC_AUTH_TOKEN: randomBytes(32).toString('base64url') });
    try {
      const refused = await workflowPageText(workflowId, runId, (text) => CIPHERTEXT_INPUT.test(text) || text.includes(newEmail));
      expect(refused).toMatch(CIPHERTEXT_INPUT);
      expect(refused).not.toContain(newEmail);
      await other.stop();
      other = undefined;
      const unreachable = await workflowPageText(workflowId, runId, (text) => CIPHERTEXT_INPUT.test(text) || text.includes(newEmail));
      expect(unreachable).toMatch(CIPHERTEXT_INPUT);
      expect(unreachable).not.toContain(newEmail);
    } finally {
      await other?.stop();
    }
  });
});
