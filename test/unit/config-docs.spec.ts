// docs/operations.md's configuration tables list every environment variable the code reads, and nothing else:
// the keys of the configuration schema (src/config/config.ts), every other `process.env.X` / `env.X` read and
// CLI option `.env('X')` in src/ and scripts/, the variables docker-compose.yml substitutes, and the few a
// library reads itself.
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONFIG_KEYS } from '../../src/config/config.js';

const ROOT = resolve(import.meta.dirname, '../..');
/** Read by a library, not by our code: the OpenTelemetry OTLP exporter. */
const READ_BY_LIBRARIES = ['OTEL_EXPORTER_OTLP_HEADERS'];

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.(ts|mjs|js)$/.test(e.name))
    .map((e) => join(e.parentPath, e.name))
    .filter((p) => !p.includes(`${join('src', 'generated')}`) && !p.includes('node_modules'));
}

/** Variables read outside the configuration schema. */
function readElsewhere(): Set<string> {
  const found = new Set<string>();
  const patterns = [
    /\benv(?:\?)?\.([A-Z][A-Z0-9_]+)\b/g,
    /\benv\[['"]([A-Z][A-Z0-9_]+)['"]\]/g,
    /\.env\(['"]([A-Z][A-Z0-9_]+)['"]\)/g,
  ];
  for (const file of [...sources('src'), ...sources('scripts')]) {
    const text = readFileSync(file, 'utf8');
    for (const p of patterns) for (const m of text.matchAll(p)) found.add(m[1]);
  }
  const compose = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8');
  for (const m of compose.matchAll(/\$\{([A-Z][A-Z0-9_]+)/g)) found.add(m[1]);
  return found;
}

/** The first-column names of the tables in docs/operations.md's "## Configuration" section. */
function documented(): Set<string> {
  const doc = readFileSync(join(ROOT, 'docs/operations.md'), 'utf8');
  const section = /^## Configuration\n([\s\S]*?)(?=^## )/m.exec(doc)?.[1] ?? '';
  const names = new Set<string>();
  for (const line of section.split('\n')) {
    const first = /^\|([^|]*)\|/.exec(line)?.[1] ?? '';
    for (const m of first.matchAll(/`([A-Z][A-Z0-9_]+)`/g)) names.add(m[1]);
  }
  return names;
}

describe('docs/operations.md configuration tables', () => {
  const known = new Set([...CONFIG_KEYS, ...readElsewhere(), ...READ_BY_LIBRARIES]);
  const listed = documented();

  it('lists every variable the configuration schema and the code read', () => {
    expect(CONFIG_KEYS).toContain('SHUTDOWN_GRACE_MS');
    expect(known).toContain('EMULATOR_PORT');
    expect([...known].filter((k) => !listed.has(k)).sort()).toEqual([]);
  });

  it('lists nothing the code does not read', () => {
    expect(listed.size).toBeGreaterThan(60);
    expect([...listed].filter((k) => !known.has(k)).sort()).toEqual([]);
  });
});
