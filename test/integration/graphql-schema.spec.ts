import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { resolve } from 'node:path';
import { GraphQLSchemaHost } from '@nestjs/graphql';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, Stack } from '../support/harness.js';

// The app (loaded by Node) uses graphql's CommonJS build; vitest would hand this file the ESM one.
const { printSchema } = createRequire(import.meta.url)('graphql') as typeof import('graphql');
const SCHEMA_FILE = resolve(import.meta.dirname, '../../schema.graphql');

describe('committed GraphQL schema', () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack();
  });
  afterAll(() => s.close());

  it('matches the schema the code generates (UPDATE_SCHEMA=1 rewrites it)', async () => {
    const generated = printSchema(s.app.get(GraphQLSchemaHost).schema) + '\n';
    if (process.env.UPDATE_SCHEMA === '1') await writeFile(SCHEMA_FILE, generated);
    expect(await readFile(SCHEMA_FILE, 'utf8')).toBe(generated);
  });

  it('explains itself: graphql-schema-linter passes with every rule (.graphql-schema-linterrc.yml)', async () => {
    const root = resolve(import.meta.dirname, '../..');
    const lint = await promisify(execFile)(resolve(root, 'node_modules/.bin/graphql-schema-linter'), [], { cwd: root })
      .then((r) => ({ code: 0, out: r.stdout + r.stderr }))
      .catch((e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout + e.stderr }));
    expect(lint.out, lint.out).toContain('0 errors detected');
    expect(lint.code, lint.out).toBe(0);
  });
});
