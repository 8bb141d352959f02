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
        projectService: { allowDefaultProject: ['*.js', 'scripts/*.mjs', 'bench/lib/*.mjs'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
  },
  prettier,
  // Plain JavaScript has no types to check: syntax and core rules only.
  { files: ['**/*.mjs', '**/*.js'], ...tseslint.configs.disableTypeChecked },
  { files: ['**/*.mjs', '**/*.js'], languageOptions: { globals: globals.node } },
  {
    rules: {
      'max-len': ['error', { code: 120, ignoreUrls: true, ignoreRegExpLiterals: true }],
      // At most four positional parameters (an options object beyond that). Nest fills a constructor's injected
      // dependencies and a handler's decorated parameters (@Param, @Query…); nobody passes those at a call site,
      // so constructors and methods with decorated parameters are exempt.
      'no-restricted-syntax': [
        'error',
        {
          selector:
            ':matches(FunctionDeclaration, ArrowFunctionExpression, ' +
            "FunctionExpression:not(MethodDefinition[kind='constructor'] > FunctionExpression, :has(Decorator)))" +
            '[params.length>4]',
          message: 'More than four positional parameters: take an options object.',
        },
      ],
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
      // Test fakes implement the gateway's async interfaces without awaiting anything.
      '@typescript-eslint/require-await': 'off',
      // The four-parameter limit is for the product's code; the emulator mirrors kube-apiserver's handler
      // signatures (verb, resource, namespace, name, options) and test helpers are read at their call sites.
      'no-restricted-syntax': 'off',
    },
  },
  {
    // The emulator reads unstructured JSON (schema-validated before it is stored) and prints fields the way
    // kube-apiserver's table printers do; String(field ?? '') on such a value is deliberate.
    files: ['test/support/emulator/**/*.ts'],
    rules: { '@typescript-eslint/no-base-to-string': 'off' },
  },
);
