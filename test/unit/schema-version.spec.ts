// The schema version a build needs is its newest migration, and the probe's answers (database/schema-version.ts).
import { readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REQUIRED_MIGRATION, SchemaVersion } from '../../src/database/schema-version.js';

describe('schema version', () => {
  it('is the newest migration in prisma/migrations (move it with every new one)', () => {
    const dir = resolve(import.meta.dirname, '../../prisma/migrations');
    const migrations = readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort();
    expect(REQUIRED_MIGRATION).toBe(migrations.at(-1));
  });

  it('answers ok once applied (and keeps it), behind without it or any, unknown when it cannot ask', async () => {
    let rows: unknown[] = [];
    let asked = 0;
    const v = new SchemaVersion(async (name) => {
      asked += 1;
      expect(name).toBe(REQUIRED_MIGRATION);
      return rows;
    });
    expect(await v.state()).toBe('behind');
    rows = [{}];
    expect(await v.state()).toBe('ok');
    rows = [];
    expect(await v.state()).toBe('ok');
    expect(asked).toBe(2);

    const never = new SchemaVersion(() => Promise.reject(Object.assign(new Error('no table'), { code: '42P01' })));
    expect(await never.state()).toBe('behind');
    const down = new SchemaVersion(() => Promise.reject(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })));
    expect(await down.state()).toBe('unknown');
  });
});
