import fs from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { FAILURE_CONVERTER_PATH } from '../../src/codec/data-converter';

const ROOT = path.resolve(__dirname, '../..');

/**
 * A workflow bundle of the current emailChange with one step added in front (a 1 ms timer): every
 * recorded run diverges from it at its first command, as a careless change would. Written under `dir`.
 */
export async function brokenWorkflowBundle(dir: string): Promise<{ code: string; codePath: string }> {
  const variant = path.join(dir, 'index.ts');
  fs.writeFileSync(
    variant,
    [
      "import { sleep } from '@temporalio/workflow';",
      `import { emailChange as current } from ${JSON.stringify(path.join(ROOT, 'src/workflows/email-change'))};`,
      'export async function emailChange(...args: Parameters<typeof current>) {',
      '  await sleep(1);',
      '  return current(...args);',
      '}',
      '',
    ].join('\n'),
  );
  const { code } = await bundleWorkflowCode({
    workflowsPath: variant,
    failureConverterPath: FAILURE_CONVERTER_PATH,
    // The variant lives outside the project: let it find the project's packages.
    webpackConfigHook: (config) => ({ ...config, resolve: { ...config.resolve, modules: [...(config.resolve?.modules ?? []), path.join(ROOT, 'node_modules')] } }),
    logger: { ...console, trace: () => undefined, debug: () => undefined, info: () => undefined, log: () => undefined, warn: () => undefined } as never,
  });
  const codePath = path.join(dir, 'broken-workflow-bundle.js');
  fs.writeFileSync(codePath, code);
  return { code, codePath };
}
