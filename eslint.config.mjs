import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', '.data/', '.tools/', 'scratch/', 'bench/results/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  {
    files: ['**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    // Workflow code is replayed: it must be deterministic (Temporal's sandbox rules, enforced here too).
    files: ['src/workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: builtinModules.flatMap((m) => [m, `node:${m}`]).map((name) => ({ name, message: 'Workflow code may not use Node built-ins.' })),
          patterns: [
            { group: ['../activities', '../activities/*'], allowTypeImports: true, message: 'Workflows reach activities through proxyActivities only (import type is fine).' },
            { group: ['pg', 'nodemailer', 'koa', '@temporalio/client', '@temporalio/worker', '@temporalio/activity'], message: 'Not deterministic: keep I/O in activities.' },
          ],
        },
      ],
      'no-restricted-syntax': [
        'error',
        { selector: "Program > VariableDeclaration[kind='let'], Program > ExportNamedDeclaration > VariableDeclaration[kind='let']", message: 'No mutable module-level state in workflow files.' },
        { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: 'Prefer Date.now() from the workflow clock explicitly (deterministic in the sandbox) for readability.' },
      ],
      'no-restricted-globals': ['error', { name: 'process', message: 'No process access in workflows.' }, { name: 'require', message: 'No dynamic require in workflows.' }],
    },
  },
);
