// Lint: typescript-eslint with type information; workflows/ must stay deterministic (no Node built-ins, no I/O).
import { builtinModules } from 'node:module';
import tseslint from 'typescript-eslint';

const ioLibraries = ['pg', 'minio', 'pino', '@temporalio/client', '@temporalio/worker', '@temporalio/activity'];
const forbidden = [...new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`), ...ioLibraries])];

export default tseslint.config(
  { ignores: ['node_modules/**', '.cairn/**', '**/dist/**', 'coverage/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: forbidden.map((name) => ({
            name,
            message: 'Workflow code must be deterministic: no Node built-ins or I/O libraries. Do I/O in an activity.',
            allowTypeImports: true,
          })),
          patterns: [
            {
              group: ['**/activities/*', '!**/activities/index.js'],
              allowTypeImports: true,
              message: 'Import activities as types only.',
            },
            {
              group: ['**/lib/db/*', '**/lib/artifacts/*', '**/lib/logging/*'],
              allowTypeImports: true,
              message: 'Workflow code must not do I/O.',
            },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'process', message: 'No process.env in workflows: pass settings in the workflow input.' },
        { name: 'setInterval', message: 'Use sleep() from @temporalio/workflow.' },
      ],
    },
  }
);
