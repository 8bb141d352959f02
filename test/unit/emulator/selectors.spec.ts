import { describe, expect, it } from 'vitest';
import {
  labelSelectorFromObject,
  parseFieldSelector,
  parseLabelSelector,
  SelectorParseError,
} from '../../support/emulator/selectors.js';

const labels = { app: 'web', tier: 'front', 'openservicemesh.io/monitored-by': 'osm', replicas: '3' };

describe('label selectors', () => {
  it('matches equality, inequality and set-based requirements', () => {
    expect(parseLabelSelector('app=web').matches(labels)).toBe(true);
    expect(parseLabelSelector('app==web').matches(labels)).toBe(true);
    expect(parseLabelSelector('app!=web').matches(labels)).toBe(false);
    expect(parseLabelSelector('missing!=x').matches(labels)).toBe(true);
    expect(parseLabelSelector('tier in (front, back)').matches(labels)).toBe(true);
    expect(parseLabelSelector('tier notin (front)').matches(labels)).toBe(false);
    expect(parseLabelSelector('missing notin (front)').matches(labels)).toBe(true);
    expect(parseLabelSelector('missing in (front)').matches(labels)).toBe(false);
    expect(parseLabelSelector('replicas>2,replicas<4').matches(labels)).toBe(true);
  });

  it('matches existence and absence', () => {
    expect(parseLabelSelector('openservicemesh.io/monitored-by').matches(labels)).toBe(true);
    expect(parseLabelSelector('!openservicemesh.io/ignore').matches(labels)).toBe(true);
    expect(parseLabelSelector('!app').matches(labels)).toBe(false);
  });

  it('ANDs comma-separated requirements and tolerates whitespace', () => {
    expect(parseLabelSelector(' app = web , tier in (front) , !ignored ').matches(labels)).toBe(true);
    expect(parseLabelSelector('app=web,tier=back').matches(labels)).toBe(false);
  });

  it('treats an empty selector as everything and `key=` as the empty value', () => {
    expect(parseLabelSelector('').matches({})).toBe(true);
    expect(parseLabelSelector(undefined).isEmpty()).toBe(true);
    expect(parseLabelSelector('app=').matches({ app: '' })).toBe(true);
    expect(parseLabelSelector('app=').matches({ app: 'x' })).toBe(false);
  });

  it('rejects malformed selectors', () => {
    expect(() => parseLabelSelector('app in front')).toThrow(SelectorParseError);
    expect(() => parseLabelSelector('app=web,')).toThrow(SelectorParseError);
    expect(() => parseLabelSelector('bad key=x')).toThrow(SelectorParseError);
    expect(() => parseLabelSelector('app=bad value!')).toThrow(SelectorParseError);
    expect(() => parseLabelSelector('a/b/c=x')).toThrow(SelectorParseError);
    expect(() => parseLabelSelector('replicas>abc')).toThrow(SelectorParseError);
  });

  it('renders the canonical string form', () => {
    expect(parseLabelSelector('tier in (b,a),app=web,!x').toString()).toBe('tier in (a,b),app=web,!x');
  });

  it('converts metav1.LabelSelector objects like the webhook namespaceSelector', () => {
    const selector = labelSelectorFromObject({
      matchLabels: { 'openservicemesh.io/monitored-by': 'osm' },
      matchExpressions: [
        { key: 'openservicemesh.io/ignore', operator: 'DoesNotExist' },
        { key: 'name', operator: 'NotIn', values: ['osm-system'] },
        { key: 'control-plane', operator: 'DoesNotExist' },
      ],
    });
    expect(selector.matches({ 'openservicemesh.io/monitored-by': 'osm' })).toBe(true);
    expect(selector.matches({ 'openservicemesh.io/monitored-by': 'osm', 'openservicemesh.io/ignore': 'false' })).toBe(
      false,
    );
    expect(selector.matches({ 'openservicemesh.io/monitored-by': 'other' })).toBe(false);
    expect(labelSelectorFromObject(undefined, true).matches({})).toBe(true);
    expect(labelSelectorFromObject(undefined).matches({})).toBe(false);
  });
});

describe('field selectors', () => {
  const fields = { 'metadata.name': 'web', 'metadata.namespace': 'shop', 'status.phase': 'Running' };

  it('matches =, == and != terms', () => {
    expect(parseFieldSelector('metadata.name=web').matches(fields)).toBe(true);
    expect(parseFieldSelector('metadata.name==web,status.phase=Running').matches(fields)).toBe(true);
    expect(parseFieldSelector('status.phase!=Running').matches(fields)).toBe(false);
    expect(parseFieldSelector('metadata.namespace!=other').matches(fields)).toBe(true);
  });

  it('supports backslash escapes and empty values', () => {
    const selector = parseFieldSelector('metadata.name=a\\,b');
    expect(selector.requirements).toEqual([{ field: 'metadata.name', operator: '=', value: 'a,b' }]);
    expect(parseFieldSelector('status.phase=').matches({ 'status.phase': '' })).toBe(true);
  });

  it('rejects terms without an operator', () => {
    expect(() => parseFieldSelector('metadata.name')).toThrow(SelectorParseError);
  });
});
