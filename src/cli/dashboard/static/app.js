// The dashboard page: one event stream from the server (its watches), rendered as plain DOM; buttons POST with the token.
import { distributionsSvg, plotSvg, short } from './plot.js';

const token = document.querySelector('meta[name="fledge-token"]').content;
const $ = (selector) => document.querySelector(selector);
const esc = (text) => String(text ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

const BUTTONS = [
  { action: 'promote', label: 'Promote', says: 'end the current pause or analysis hold (status.promote: step)' },
  { action: 'promote-full', label: 'Promote full', says: 'skip every remaining step (status.promote: full)' },
  { action: 'abort', label: 'Abort', says: 'go back to 100% stable (status.abort: true)', danger: true },
  { action: 'retry', label: 'Retry', says: 'start the aborted canary again from the first step (status.abort: false)' },
  { action: 'pause', label: 'Pause', says: 'freeze progression (spec.paused: true)' },
  { action: 'resume', label: 'Resume', says: 'undo pause (spec.paused: false)' },
];

let source;
let rows = [];
let selected;
let notice;
let shown;
/** An action's outcome stays on the page this long; after that it would read as news about a later state. */
const NOTICE_MS = 15_000;

function fromHash() {
  const match = /^#\/([^/]+)\/([^/]+)$/.exec(location.hash);
  return match ? { namespace: decodeURIComponent(match[1]), name: decodeURIComponent(match[2]) } : undefined;
}

function connect() {
  source?.close();
  const query = selected ? `?rollout=${encodeURIComponent(`${selected.namespace}/${selected.name}`)}` : '';
  source = new EventSource(`/api/stream${query}`);
  source.addEventListener('open', () => setConnection(true));
  source.addEventListener('error', () => setConnection(false));
  source.addEventListener('list', (event) => {
    const data = JSON.parse(event.data);
    rows = data.rows;
    $('#scope').textContent = data.namespace === null ? 'all namespaces' : `namespace ${data.namespace}`;
    renderList();
  });
  source.addEventListener('rollout', (event) => renderDetail(JSON.parse(event.data)));
}

function setConnection(live) {
  const el = $('#connection');
  el.textContent = live ? 'live' : 'reconnecting…';
  el.classList.toggle('live', live);
}

function renderList() {
  const filter = $('#ns-filter').value.trim();
  const shown = rows.filter((row) => filter === '' || row.namespace === filter);
  $('#rollouts tbody').innerHTML = shown
    .map(
      (row) => `<tr data-rollout="${esc(row.namespace)}/${esc(row.name)}">
        <td>${esc(row.namespace)}</td>
        <td><a href="#/${encodeURIComponent(row.namespace)}/${encodeURIComponent(row.name)}">${esc(row.name)}</a></td>
        <td class="status ${esc(row.phase)}">${esc(row.phase)}${row.aborted ? ' (aborted)' : ''}</td>
        <td>${esc(row.step)}</td><td>${esc(row.weight)}%</td><td>${esc(row.available)}</td><td class="message">${esc(row.message)}</td></tr>`,
    )
    .join('');
}

function bar(canary, total, title) {
  const share = total > 0 ? Math.max(0, Math.min(100, (canary / total) * 100)) : 0;
  // SVG attributes, not inline styles: the page's Content-Security-Policy allows no inline style.
  return `<svg class="bar" viewBox="0 0 100 4" preserveAspectRatio="none" role="img" aria-label="${esc(title)}"><rect class="canary" width="${share}" height="4"/><rect class="stable" x="${share}" width="${100 - share}" height="4"/></svg>`;
}

function weights(view) {
  const settled = view.currentRevision !== undefined && view.currentRevision === view.stableRevision;
  const traffic = settled
    ? 'no canary: all traffic on stable'
    : `${view.actualWeight}% ${view.router ? `of traffic via ${view.router}` : 'by pod count'} (desired ${view.desiredWeight}%)${view.aborted ? ', aborted: back to stable' : ''}`;
  const canaryPods = view.revisions.filter((r) => r.role === 'canary').reduce((sum, r) => sum + r.available, 0);
  const allPods = view.revisions.reduce((sum, r) => sum + r.available, 0);
  return `<h3>Weights</h3>
    <div>Traffic to canary: <span data-field="traffic">${esc(traffic)}</span>${view.trafficPending ? ` <span class="Paused">(${esc(view.trafficPending)})</span>` : ''}</div>
    ${bar(settled ? 0 : view.actualWeight, 100, 'traffic: canary / stable')}
    <div>Available pods: <span data-field="pods">${canaryPods} canary / ${allPods - canaryPods} other</span></div>
    ${bar(canaryPods, allPods, 'available pods: canary / other')}`;
}

function revisions(view) {
  const body = view.revisions
    .map(
      (r) => `<tr data-revision="${r.number}"><td>${r.number}</td><td class="${r.role === 'stable' ? 'Healthy' : r.role === 'canary' ? 'Paused' : 'message'}">${r.role}${r.role === 'stable' && r.current ? ', current' : ''}</td>
        <td>${esc(r.replicaSet)}</td><td>${r.available}/${r.desired}</td><td class="images">${r.images.map(esc).join('<br>')}</td></tr>`,
    )
    .join('');
  return `<h3>Revisions</h3><table><thead><tr><th>#</th><th>Role</th><th>ReplicaSet</th><th>Available</th><th>Images</th></tr></thead><tbody>${body}</tbody></table>`;
}

/** One metric's plot with its name, verdict and legend: `extra` follows the verdict, `what` names the points. */
function metricPlot(metric, extra, what) {
  return `<div class="metric" data-metric="${esc(metric.name)}">
    <h4>${esc(metric.name)} <span class="${esc(metric.phase)}">${esc(metric.phase)}</span>${extra}</h4>
    ${plotSvg(metric.points, { ...(metric.threshold && { threshold: metric.threshold }), label: `${metric.name} ${what}` })}
    <div class="legend">● successful ✕ failed ◆ inconclusive ▲ error${metric.threshold || metric.judgement ? '' : ' · no simple threshold to draw'}</div>${judged(metric)}</div>`;
}

/** A judge metric's baseline and canary side by side, and its verdict in one line. */
function judged(metric) {
  if (!metric.judgement) return '';
  return `<div class="judgement" data-class="${esc(metric.judgement.class)}">
    ${distributionsSvg(metric.judgement, { label: `${metric.name}: baseline and canary` })}
    <div class="message">judge ${esc(metric.judgement.class)}: ${esc(metric.judgement.explanation)}</div></div>`;
}

function runs(view) {
  if (view.analysisRuns.length === 0) return '<h3>Analysis</h3><p class="message">No AnalysisRuns.</p>';
  return `<h3>Analysis</h3>${view.analysisRuns
    .map(
      (run) => `<div class="card run" data-run="${esc(run.name)}">
        <div><strong>${esc(run.name)}</strong>${run.kind === 'other' ? '' : ` (${run.kind})`} <span class="${esc(run.phase)}" data-field="run-phase">${esc(run.phase)}</span></div>
        ${run.message && run.phase !== 'Running' ? `<div class="message">${esc(run.message)}</div>` : ''}
        <div class="metrics">${run.metrics
          .map((metric) =>
            metricPlot(
              metric,
              metric.lastValue !== undefined ? ` <span class="legend">last ${esc(Number.isFinite(Number(metric.lastValue)) ? short(metric.lastValue) : metric.lastValue)}</span>` : '',
              'measurements',
            ),
          )
          .join('')}</div></div>`,
    )
    .join('')}`;
}

function renderDetail(view) {
  shown = view;
  const detail = $('#detail');
  if (view === null) {
    detail.innerHTML = `<div class="card">Rollout ${esc(selected?.namespace)}/${esc(selected?.name)} is not there (deleted, or outside this dashboard's namespace).</div>`;
    return;
  }
  const buttons = BUTTONS.map(
    (b) => `<button data-action="${b.action}" class="${b.danger ? 'danger' : ''}" ${view.actions[b.action] ? `disabled title="${esc(view.actions[b.action])}"` : ''}>${b.label}</button>`,
  ).join('');
  detail.innerHTML = `<div class="card">
      <h2>${esc(view.name)} <span class="status ${esc(view.phase)}" data-field="phase">${esc(view.phase)}${view.aborted ? ' (aborted)' : ''}</span></h2>
      <div class="message" data-field="message">${esc(view.message)}</div>
      <div class="buttons">${buttons}</div>
      ${notice ? `<div class="notice ${notice.ok ? 'ok' : 'error'}" data-field="notice">${esc(notice.text)}</div>` : ''}
    </div>
    <div class="grid">
      <div class="card"><h3>Steps <span class="legend">(${view.stepsCompleted >= view.stepCount ? view.stepCount : view.stepsCompleted}/${view.stepCount})</span></h3>
        <ol class="steps">${view.steps.map((s, i) => `<li class="${s.state}" data-step="${i}" data-step-state="${s.state}">${esc(s.text)}</li>`).join('')}</ol></div>
      <div class="card">${weights(view)}</div>
    </div>
    <div class="card">${revisions(view)}</div>
    <div class="card">${runs(view)}</div>`;
}

/** Seconds from a window's start to its verdict, as the command's DECIDED column prints it. */
const after = (from, to) => (to === undefined ? 'not decided' : `+${Math.round((Date.parse(to) - Date.parse(from)) / 1000)}s`);

function backtestWindow(window) {
  const deciding = window.deciding.map((d) => `${d.metric}=${d.value ?? 'none'}`).join(' ');
  const agrees = window.phase === window.live;
  return `<div class="card run" data-window="${esc(window.label)}">
    <div><strong>${esc(window.label)}</strong> <span class="legend">revision ${esc(window.revision)}, from ${esc(window.start)}</span></div>
    <div>Replayed: <span class="${esc(window.phase)}" data-field="bt-verdict">${esc(window.phase)}</span>
      <span data-field="bt-decided">${esc(after(window.start, window.decidedAt))}</span>${window.decidedAt ? ` <span class="legend">(${esc(window.decidedAt)})</span>` : ''}${deciding ? ` on <span data-field="bt-deciding">${esc(deciding)}</span>` : ''}
      · live: <span class="${esc(window.live)}" data-field="bt-live">${esc(window.live)}</span> <span class="legend">${agrees ? 'same verdict' : 'differs from the replay'}</span></div>
    ${window.message ? `<div class="message">${esc(window.message)}</div>` : ''}
    <div class="metrics">${window.metrics.map((metric) => metricPlot(metric, metric.dryRun ? ' <span class="legend">dry run</span>' : '', 'replayed measurements')).join('')}</div></div>`;
}

let backtest;

function renderBacktest() {
  const panel = $('#backtest');
  const body =
    backtest === undefined
      ? '<p class="message">Replays this Rollout’s analysis over its last 10 AnalysisRuns against Prometheus history, as <code>kubectl fledge backtest --rollout</code> does. It queries Prometheus, so it runs only when you ask.</p>'
      : backtest.running
        ? '<p class="message" data-field="bt-running">Querying Prometheus…</p>'
        : backtest.error
          ? `<div class="notice error" data-field="bt-error">${esc(backtest.error)}</div>`
          : `<p data-field="bt-summary"><strong>${esc(backtest.report.sentence)}</strong></p>
            <p class="legend">${backtest.report.summary.failed} failed, ${backtest.report.summary.error} errored, ${backtest.report.summary.inconclusive} inconclusive, ${backtest.report.summary.successful} passed of ${backtest.report.summary.windows} windows; run at ${esc(backtest.at)}</p>
            ${backtest.report.queryErrors.map((q) => `<div class="notice error">Prometheus did not answer ${esc(q.query)}: ${esc(q.message)}</div>`).join('')}
            ${backtest.report.windows.map(backtestWindow).join('')}`;
  panel.innerHTML = `<div class="card"><h3>Backtest past releases <button data-backtest ${backtest?.running ? 'disabled' : ''}>${backtest === undefined ? 'Run backtest' : 'Run again'}</button></h3>${body}</div>`;
}

async function runBacktest() {
  const target = selected;
  backtest = { running: true };
  renderBacktest();
  const query = `namespace=${encodeURIComponent(target.namespace)}&rollout=${encodeURIComponent(target.name)}`;
  let next;
  try {
    const res = await fetch(`/api/backtest?${query}`, { headers: { 'x-fledge-token': token } });
    const body = await res.json();
    next = res.ok ? { report: body, at: new Date().toISOString() } : { error: body.message };
  } catch (err) {
    next = { error: String(err) };
  }
  // The user may have moved to another Rollout while Prometheus answered.
  if (selected !== target) return;
  backtest = next;
  renderBacktest();
}

function show() {
  selected = fromHash();
  $('#list').hidden = selected !== undefined;
  $('#detail').hidden = selected === undefined;
  $('#detail').innerHTML = '';
  $('#backtest').hidden = selected === undefined;
  backtest = undefined;
  if (selected) renderBacktest();
  notice = undefined;
  shown = undefined;
  connect();
}

async function act(action) {
  const button = BUTTONS.find((b) => b.action === action);
  $('#confirm-text').textContent = `${button.label} rollout ${selected.namespace}/${selected.name}: ${button.says}?`;
  const dialog = $('#confirm');
  dialog.returnValue = '';
  dialog.showModal();
  await new Promise((resolve) => dialog.addEventListener('close', resolve, { once: true }));
  if (dialog.returnValue !== 'ok') return;
  const path = `/api/rollouts/${encodeURIComponent(selected.namespace)}/${encodeURIComponent(selected.name)}/${action}`;
  try {
    const res = await fetch(path, { method: 'POST', headers: { 'x-fledge-token': token } });
    const body = await res.json();
    notice = { ok: res.ok, text: body.message };
  } catch (err) {
    notice = { ok: false, text: String(err) };
  }
  const current = notice;
  setTimeout(() => {
    if (notice !== current) return;
    notice = undefined;
    if (shown) renderDetail(shown);
  }, NOTICE_MS);
  // A successful action changes the Rollout, and its watch event redraws the page with the notice; a refused one does not.
  if (!notice.ok && shown) renderDetail(shown);
}

$('#detail').addEventListener('click', (event) => {
  const action = event.target.closest('button[data-action]')?.dataset.action;
  if (action) void act(action);
});
$('#backtest').addEventListener('click', (event) => {
  if (event.target.closest('button[data-backtest]')) void runBacktest();
});
$('#ns-filter').addEventListener('input', renderList);
window.addEventListener('hashchange', show);
show();
