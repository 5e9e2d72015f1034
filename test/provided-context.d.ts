import 'vitest';

/** What test/global-setup.ts hands to every test file. */
declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    databaseUrl: string;
    workflowBundlePath: string;
    tempDir: string;
  }
}
