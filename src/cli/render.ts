import pc from 'picocolors';
import { stepProgress } from '../rollout/decide/steps.js';
import type { AnalysisRunView, MeasurementMark, RevisionView, RolloutRow, RolloutView } from './view.js';

export type Colors = ReturnType<typeof pc.createColors>;

export function colors(enabled: boolean): Colors {
  return pc.createColors(enabled);
}

const PHASE_ICONS: Record<string, string> = { Healthy: '✔', Progressing: '◌', Paused: '॥', Degraded: '✖' };
const MARK_ICONS: Record<MeasurementMark, string> = { Successful: '✔', Failed: '✖', Inconclusive: '?', Error: '⚠', Running: '◌', Pending: '·' };
/** Measurements shown per metric: the newest, so a long run stays on one line. */
const MARKS_SHOWN = 20;

function paint(c: Colors, phase: string, text: string): string {
  if (phase === 'Healthy' || phase === 'Successful') return c.green(text);
  if (phase === 'Degraded' || phase === 'Failed' || phase === 'Error') return c.red(text);
  if (phase === 'Paused' || phase === 'Inconclusive') return c.yellow(text);
  return c.cyan(text);
}

export function phaseLabel(view: Pick<RolloutView, 'phase' | 'aborted'>, c: Colors): string {
  const text = `${PHASE_ICONS[view.phase] ?? '?'} ${view.phase}${view.aborted ? ' (aborted)' : ''}`;
  return paint(c, view.phase, text);
}

/** A bar of `width` cells: the canary's share in its colour, the stable share dim. */
export function weightBar(weight: number, width: number, c: Colors): string {
  const filled = Math.round((Math.max(0, Math.min(100, weight)) / 100) * width);
  return `${c.yellow('█'.repeat(filled))}${c.dim('░'.repeat(width - filled))}`;
}

function revisionLine(revision: RevisionView, c: Colors): string {
  const health = revision.available >= revision.desired ? '✔' : '◌';
  const pods = `${health} ${revision.available}/${revision.desired} available  pods ${revision.pods.ready}/${revision.pods.total} ready`;
  // An experiment's ReplicaSet is no revision: its template's name, and its pods.
  if (revision.role === 'experiment') return `${c.bold(`experiment ${revision.template ?? '?'}`)}  ${c.cyan(revision.images.join(', '))}  ${revision.replicaSet}  ${pods}`;
  const role =
    revision.role === 'stable'
      ? c.green(revision.current ? 'stable,current' : 'stable')
      : revision.role === 'canary'
        ? c.yellow('canary')
        : revision.role === 'baseline'
          ? c.cyan('baseline')
          : c.dim('old');
  const delay = revision.scaleDownAt !== undefined && revision.desired > 0 ? c.dim(`  scale-down at ${revision.scaleDownAt}`) : '';
  return `${c.bold(`revision ${revision.number}`)}  ${role}  ${revision.replicaSet}  ${pods}${delay}`;
}

/** Four significant digits are plenty on screen (0.09874999999999999 reads as 0.09875); status keeps the exact value. */
function shortValue(value: string): string {
  const number = Number(value);
  return value.trim() !== '' && Number.isFinite(number) ? String(Number(number.toPrecision(4))) : value;
}

function marks(run: AnalysisRunView, c: Colors): string[] {
  return run.metrics.map((metric) => {
    const shown = metric.marks.slice(-MARKS_SHOWN).map((mark) => paint(c, mark, MARK_ICONS[mark])).join('');
    const hidden = metric.marks.length > MARKS_SHOWN ? c.dim(`+${metric.marks.length - MARKS_SHOWN} `) : '';
    const value = metric.lastValue !== undefined ? `  last ${shortValue(metric.lastValue)}` : '';
    return `${metric.name}  ${hidden}${shown}${value}`;
  });
}

function runLines(run: AnalysisRunView, c: Colors): string[] {
  const kind = run.kind === 'other' ? '' : ` (${run.kind})`;
  const lines = [`analysis ${run.name}${kind}  ${paint(c, run.phase, `${MARK_ICONS[run.phase as MeasurementMark] ?? '·'} ${run.phase}`)}`];
  for (const [index, line] of marks(run, c).entries()) {
    lines.push(`  ${line}`);
    const judgement = run.metrics[index]?.judgement;
    if (judgement !== undefined) lines.push(`    ${c.dim(`judge ${judgement.class}: ${judgement.explanation}`)}`);
  }
  if (run.message !== undefined && run.phase !== 'Running') lines.push(`  ${c.dim(run.message)}`);
  return lines;
}

/** The canary's share, or that there is no canary: a Healthy rollout's current revision is its stable one. */
function weightLine(view: RolloutView, c: Colors): string {
  if (view.currentRevision !== undefined && view.currentRevision === view.stableRevision) return `${weightBar(0, 20, c)} no canary: all traffic on stable`;
  // With a router the weight is traffic, set apart from the pod counts; without one it is the pods' ratio.
  const what = view.router !== undefined ? `of traffic on canary via ${view.router}` : 'canary by pod count';
  const pending = view.trafficPending !== undefined ? ` ${c.yellow(`(${view.trafficPending})`)}` : '';
  if (view.aborted) return `${weightBar(view.actualWeight, 20, c)} ${view.actualWeight}% ${what} (aborted: back to stable)${pending}`;
  return `${weightBar(view.actualWeight, 20, c)} ${view.actualWeight}% ${what} (desired ${view.desiredWeight}%)${pending}`;
}

/** The `get rollout` view: a header, then revisions (newest first) with their ReplicaSets, pods and analysis. */
export function renderRollout(view: RolloutView, c: Colors): string {
  const stableImages = view.revisions.find((r) => r.role === 'stable')?.images ?? [];
  const canaryImages = view.revisions.find((r) => r.role === 'canary')?.images ?? [];
  const images = [...stableImages.map((i) => `${i} ${c.green('(stable)')}`), ...canaryImages.map((i) => `${i} ${c.yellow('(canary)')}`)];
  const r = view.replicas;
  const lines = [
    `${c.bold('Name:')}       ${view.name}`,
    `${c.bold('Namespace:')}  ${view.namespace}`,
    `${c.bold('Status:')}     ${phaseLabel(view, c)}`,
    `${c.bold('Message:')}    ${view.message}`,
    `${c.bold('Step:')}       ${stepProgress(view.stepsCompleted, view.stepCount)}`,
    `${c.bold('Weight:')}     ${weightLine(view, c)}`,
    `${c.bold('Images:')}     ${images.join('\n            ') || '-'}`,
    `${c.bold('Replicas:')}   desired ${r.desired}  current ${r.current}  updated ${r.updated}  ready ${r.ready}  available ${r.available}`,
    ...(view.writeBack !== undefined ? [`${c.bold('Git:')}        ${view.writeBack.outcome === 'Failed' ? c.red('✖ Failed') : c.green(`✔ ${view.writeBack.outcome}`)}: ${view.writeBack.message}`] : []),
    '',
  ];
  const runsByRevision = new Map<string, AnalysisRunView[]>();
  for (const run of view.analysisRuns) {
    const revision = view.revisions.find((candidate) => run.name.includes(`-${candidate.hash}-`));
    const key = revision?.hash ?? '';
    runsByRevision.set(key, [...(runsByRevision.get(key) ?? []), run]);
  }
  for (const revision of view.revisions) {
    lines.push(revisionLine(revision, c));
    const runs = runsByRevision.get(revision.hash) ?? [];
    runs.forEach((run, index) => {
      const last = index === runs.length - 1;
      runLines(run, c).forEach((line, lineIndex) => lines.push(`${lineIndex === 0 ? (last ? '└─ ' : '├─ ') : last ? '   ' : '│  '}${line}`));
    });
  }
  return lines.join('\n') + '\n';
}

/** One line per Rollout for `list rollouts`. */
export function renderRolloutList(rows: RolloutRow[], c: Colors, allNamespaces: boolean): string {
  const header = [...(allNamespaces ? ['NAMESPACE'] : []), 'NAME', 'STATUS', 'STEP', 'WEIGHT', 'AVAILABLE', 'MESSAGE'];
  const cells = rows.map((row) => [
    ...(allNamespaces ? [row.namespace] : []),
    row.name,
    `${PHASE_ICONS[row.phase] ?? '?'} ${row.phase}${row.aborted ? ' (aborted)' : ''}`,
    row.step,
    `${row.weight}%`,
    row.available,
    row.message,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((line) => (line[i] ?? '').length)));
  const pad = (line: string[]): string =>
    line
      .map((cell, i) => (i === line.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const statusColumn = allNamespaces ? 2 : 1;
  return [
    c.bold(pad(header)),
    ...cells.map((line, index) => {
      const text = pad(line);
      const row = rows[index];
      if (row === undefined) return text;
      const status = line[statusColumn] ?? '';
      return text.replace(status, paint(c, row.phase, status));
    }),
  ].join('\n') + '\n';
}
