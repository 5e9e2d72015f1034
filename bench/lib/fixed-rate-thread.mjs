// The loop of fixedRateGet (bench/lib/load.ts) in a thread of its own: the bench's own work and
// garbage collection never hold back a send. Request i is due at i / rate and timed from then.
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { URL } from 'node:url';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';

const { baseUrl, paths, tokens, rate, connections, expectStatus } = workerData;
const url = new URL(baseUrl);
const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
const eld = monitorEventLoopDelay({ resolution: 1 });

const samples = [];
let errors = 0;
const answers = [];
eld.enable();
const start = performance.now() + 20;
for (let i = 0; i < paths.length; i++) {
  const due = start + (i * 1000) / rate;
  if (due - performance.now() >= 1) await sleep(due - performance.now());
  answers.push(
    new Promise((resolve) => {
      const req = http.get({ host: url.hostname, port: url.port, path: paths[i], agent, timeout: 30_000, headers: { authorization: `Bearer ${tokens[i]}` } }, (res) => {
        res.resume();
        res.on('end', () => {
          samples.push(performance.now() - due);
          if (res.statusCode !== expectStatus) errors++;
          resolve();
        });
      });
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', () => {
        errors++;
        resolve();
      });
    }),
  );
}
await Promise.all(answers);
eld.disable();
agent.destroy();
// The client's own event-loop delay: a send it held back shows here (and in the latency, which counts from the due time).
parentPort.postMessage({ samples, errors, clientDelayMaxMs: eld.max / 1e6, clientDelayP99Ms: eld.percentile(99) / 1e6 });
