import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { importX } from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.lab/', 'coverage/', 'test/golden/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  importX.flatConfigs.typescript,
  {
    settings: { 'import-x/resolver-next': [createTypeScriptImportResolver({ project: 'tsconfig.json' })] },
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        globalThis: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        module: 'writable',
        require: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-require-imports': 'off',
      // Modules form a tree: a cycle means two modules should be one, or a third should hold what both need.
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      // The formatter wraps at 160; what it cannot wrap (long strings, URLs, regexes) is allowed.
      'max-len': [
        'error',
        { code: 160, ignoreStrings: true, ignoreTemplateLiterals: true, ignoreRegExpLiterals: true, ignoreUrls: true, ignoreComments: false },
      ],
      complexity: ['error', 20],
    },
  },
  {
    // Import boundaries: the aggregator by path (aggregator/README.md: an import runs down, never up or sideways);
    // the sidecar is a bundle of its own in every pod and shares only lib/ with the other components.
    files: ['aggregator/**/*.ts', 'sidecar/**/*.ts'],
    rules: {
      'import-x/no-restricted-paths': [
        'error',
        {
          zones: [
            {
              target: './aggregator/request',
              from: ['./aggregator/rollout', './aggregator/server.ts', './aggregator/config.ts'],
              message: 'the request path must not depend on the rollout controller or the server that runs it',
            },
            {
              target: './aggregator/handoff',
              from: ['./aggregator/request', './aggregator/identity', './aggregator/rollout', './aggregator/server.ts'],
              message: 'hand-off control must not depend on the request path, identity or the rollout controller',
            },
            {
              target: './aggregator/identity',
              from: ['./aggregator/request', './aggregator/handoff', './aggregator/rollout', './aggregator/server.ts', './aggregator/metrics.ts'],
              message: 'identity must not depend on the request path, hand-off control or the rollout controller',
            },
            {
              target: './sidecar',
              from: ['./aggregator', './synchronizer', './webhook', './cli', './lab'],
              message: 'sidecar/ imports only lib/ and itself (issue 23): move what both need to lib/.',
            },
          ],
        },
      ],
    },
  },
);
