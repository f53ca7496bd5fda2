import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ControllerMetrics } from '../../../src/observability/metrics.js';

const dashboard = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', '..', 'deploy', 'grafana', 'fledge-dashboard.json'), 'utf8')) as {
  panels: Array<{ title: string; targets: Array<{ expr: string }> }>;
};

const dashboardQueries = (): string[] => dashboard.panels.flatMap((panel) => panel.targets.map((target) => target.expr));

describe('Grafana dashboard', () => {
  it('has the panels the issue asks for', () => {
    const titles = dashboard.panels.map((panel) => panel.title);
    for (const wanted of ['Rollouts by phase', 'Canary weight', 'Aborts by cause', 'Analysis measurements by outcome']) expect(titles).toContain(wanted);
  });

  it('queries only metrics the controller exports', async () => {
    const exported = new Set((await new ControllerMetrics().registry.getMetricsAsJSON()).map((metric) => metric.name));
    const used = new Set(dashboardQueries().flatMap((expr) => [...expr.matchAll(/\bfledge_[a-z_]+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, ''))));
    expect(used.size).toBeGreaterThanOrEqual(9);
    for (const name of used) expect(exported, `${name} is exported`).toContain(name);
  });
});
