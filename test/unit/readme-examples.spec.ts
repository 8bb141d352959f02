// scripts/readme-examples.ts without a demo: which README blocks it runs, and what it counts as a failure.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  expectationPattern,
  extractExamples as extract,
  findProblem as problem,
} from '../../scripts/readme-examples.js';

const md = [
  '<!-- readme-examples: skip (starts the demo) -->',
  '```sh',
  'npm run demo',
  '```',
  '',
  '```sh',
  'id=$(curl -s x | jq -r .id)',
  '# → {"id":"…","status":"QUEUED"}',
  '```',
  '```graphql',
  'query { x }',
  '```',
  '```sh',
  'echo done',
  '```',
].join('\n');

describe('readme-examples', () => {
  it('runs the sh blocks not marked skip, with their expected lines', () => {
    const blocks = extract(md);
    expect(blocks.map((b) => [b.line, b.code])).toEqual([
      [7, 'id=$(curl -s x | jq -r .id)\n# → {"id":"…","status":"QUEUED"}'],
      [14, 'echo done'],
    ]);
    expect(blocks[0].expect).toEqual(['{"id":"…","status":"QUEUED"}']);
  });

  it('matches an expected line with … as a wildcard, and nothing else loosely', () => {
    const p = expectationPattern('{"id":"…","status":"QUEUED"}');
    expect(p.test('{"id":"3d9e","status":"QUEUED"}')).toBe(true);
    expect(p.test('{"id":"3d9e","status":"RUNNING"}')).toBe(false);
    expect(expectationPattern('a.b (c)').test('axb (c)')).toBe(false);
    expect(expectationPattern('idempotent-replayed: true').test('Idempotent-Replayed: true')).toBe(false);
  });

  it('fails on a non-zero exit, an API error body, a bare null, a missing expected line or a timeout', () => {
    const blocks = extract(md);
    const ok = {
      code: 0,
      outputs: [['{"id":"1","status":"QUEUED"}'], ['done']],
      stderr: '',
      reached: 1,
      timedOut: false,
    };
    expect(problem(blocks, ok)).toBeUndefined();
    expect(problem(blocks, { ...ok, code: 1, outputs: [ok.outputs[0], []], stderr: 'boom' })).toMatch(
      /line 14: the block exited 1:\nboom/,
    );
    expect(problem(blocks, { ...ok, outputs: [['{"error":{"code":"X"}}'], ['done']] })).toMatch(/unexpected output/);
    expect(problem(blocks, { ...ok, outputs: [['null'], ['done']] })).toMatch(/line 7: unexpected output: null/);
    expect(problem(blocks, { ...ok, outputs: [['{"status":"FAILED"}'], ['done']] })).toMatch(/line 7: expected/);
    expect(problem(blocks, { ...ok, code: 137, reached: 0, timedOut: true })).toMatch(
      /timed out \(the blocks ran until README.md line 7\)/,
    );
  });

  it('finds the README examples and leaves the quick start out', () => {
    const blocks = extract(readFileSync(resolve(import.meta.dirname, '../../README.md'), 'utf8'));
    expect(blocks.length).toBeGreaterThanOrEqual(8);
    expect(blocks.some((b) => b.code.includes('npm run demo'))).toBe(false);
    expect(blocks.every((b) => !/<[a-z-]+>/.test(b.code))).toBe(true); // no <id>-style placeholders
  });
});
