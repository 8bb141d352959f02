// ESLint for the whole repo: typescript-eslint's type-aware recommended rules (floating promises, misused
// promises, unsafe any) with Prettier owning layout (eslint-config-prettier turns the layout rules off; max-len
// comes back for what Prettier cannot wrap: strings, comments, template literals).
import js from '@eslint/js';
import globals from 'globals';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'dist/',
      'packages/*/dist/',
      'packages/client/src/generated/',
      'coverage/',
      'src/generated/',
      'node_modules/',
      '.emulator/',
      'bench/scratch/',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['*.js', '*.ts', 'scripts/*.mjs', 'bench/lib/*.mjs'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
  },
  prettier,
  { files: ['**/*.mjs', '**/*.js'], languageOptions: { globals: globals.node } },
  {
    rules: {
      'max-len': ['error', { code: 120, ignoreUrls: true, ignoreRegExpLiterals: true }],
      '@typescript-eslint/max-params': ['error', { max: 4 }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Tests read JSON bodies (`res.body.data.x`, `await r.json()`), which are `any` by nature; asserting on them
    // is the point of the test, so the unsafe-any family is off here. Promise rules stay on.
    files: ['test/**/*.ts', 'bench/**/*.ts', 'packages/*/test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
);
