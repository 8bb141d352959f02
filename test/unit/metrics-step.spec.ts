// The metrics step's plan (osm metrics enable): the namespace annotation and the Prometheus scrape annotations.
import { describe, expect, it } from 'vitest';
import { MetricsStep } from '../../src/onboarding/steps/metrics.step.js';
import { pod, workloadContext } from '../support/workload-context.js';

describe('metrics step plan (osm metrics enable)', () => {
  const step = new MetricsStep();
  it('annotates the namespace and the injected pods that lack the Prometheus annotations', async () => {
    const plan = await step.plan(workloadContext([], [pod('a', true), pod('b', false)], { metrics: true }));
    expect(plan.changes.map((c) => [c.target.kind, c.target.name])).toEqual([
      ['Namespace', 'ns'],
      ['Pod', 'a-x'],
    ]);
    expect(plan.changes[0].body).toEqual({ metadata: { annotations: { 'openservicemesh.io/metrics': 'enabled' } } });
    expect(plan.changes[1].body).toEqual({
      metadata: {
        annotations: {
          'prometheus.io/scrape': 'true',
          'prometheus.io/port': '15010',
          'prometheus.io/path': '/stats/prometheus',
        },
      },
    });
  });

  it('plans nothing when everything is already annotated', async () => {
    const scraped = pod('a', true, {
      'prometheus.io/scrape': 'true',
      'prometheus.io/port': '15010',
      'prometheus.io/path': '/stats/prometheus',
    });
    const ns = { metadata: { name: 'ns', annotations: { 'openservicemesh.io/metrics': 'enabled' } } };
    expect((await step.plan(workloadContext([], [scraped], { metrics: true }, { ns }))).changes).toEqual([]);
  });

  it('leaves a value the injector reads as on (yes, True), and corrects one it reads as off or refuses', async () => {
    const at = (value: string) => ({
      ns: { metadata: { name: 'ns', annotations: { 'openservicemesh.io/metrics': value } } },
    });
    for (const value of ['yes', 'True']) {
      expect((await step.plan(workloadContext([], [], { metrics: true }, at(value)))).changes, value).toEqual([]);
    }
    for (const value of ['no', '', 'on']) {
      const plan = await step.plan(workloadContext([], [], { metrics: true }, at(value)));
      expect(
        plan.changes.map((c) => c.target.kind),
        value,
      ).toEqual(['Namespace']);
    }
  });
});
