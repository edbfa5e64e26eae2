// Releases and deployments: releases waiting for a decision, with an approve/reject form (a token is required: the
// same `decide` update as `cairn approve`); every release with its checklist, canary steps and decisions; what
// serves where, and every deployment change (promotions, canary steps, rollbacks).
import { badge, getJson, h, link, num, section, table, time } from '../dom.js';
import type { CanaryStep, Release, ReleaseList } from '../types.js';
import { navigate } from '../router.js';

const checklist = (r: Release) =>
  r.checklist
    ? h(
        'ul',
        { class: 'checklist' },
        ...r.checklist.map((i) =>
          h(
            'li',
            { class: i.ok ? 'ok' : 'bad' },
            h('span', { class: 'mark' }, i.ok ? '✓' : '✗'),
            ` ${i.item}: ${i.detail}`
          )
        )
      )
    : h('p', { class: 'muted' }, 'Checklist not run yet.');

const strategyOf = (r: Release) =>
  r.strategy?.kind === 'canary' ? `canary ${(r.strategy.steps ?? []).map((s) => `${s * 100}%`).join(' → ')}` : 'direct';

/** The decision form of a release waiting for one. */
function decisionForm(r: Release): HTMLElement {
  const outcome = h('p', { class: 'outcome', role: 'status' });
  const token = h('input', {
    type: 'password',
    name: 'token',
    autocomplete: 'off',
    placeholder: `approver:${r.model} token`,
  });
  const comment = h('input', { type: 'text', name: 'comment', placeholder: 'comment (optional)' });
  const send = async (decision: 'approve' | 'reject') => {
    outcome.className = 'outcome';
    outcome.textContent = `${decision === 'approve' ? 'Approving' : 'Rejecting'}…`;
    const response = await fetch(`/api/releases/${encodeURIComponent(r.workflowId)}/decide`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ decision, token: token.value, ...(comment.value ? { comment: comment.value } : {}) }),
    });
    const body = (await response.json()) as { error?: string; by?: string };
    outcome.className = `outcome ${response.ok ? 'ok' : 'error'}`;
    outcome.textContent = response.ok
      ? `${decision === 'approve' ? 'Approved' : 'Rejected'} by ${body.by}.`
      : `Refused: ${body.error ?? `HTTP ${response.status}`}`;
    if (response.ok) setTimeout(() => navigate(location.pathname + location.search), 1500);
  };
  const button = (decision: 'approve' | 'reject', label: string) =>
    h(
      'button',
      {
        type: 'button',
        class: decision === 'approve' ? 'primary' : '',
        name: decision,
        onclick: () => void send(decision),
      },
      label
    );
  return h(
    'div',
    { class: 'card pending', 'data-release': r.workflowId },
    h('h2', {}, `${r.model}@${r.version} → ${r.environment} `, badge(r.status)),
    h('p', { class: 'muted' }, `${strategyOf(r)} · started ${time(r.startedAt)} · release ${r.workflowId}`),
    checklist(r),
    h(
      'form',
      { class: 'decide', onsubmit: (e: Event) => e.preventDefault() },
      token,
      comment,
      button('approve', 'Approve'),
      button('reject', 'Reject')
    ),
    outcome
  );
}

/** Every window a canary step was watched: canary against stable, and what the judgement found. */
function canarySteps(steps: CanaryStep[]): HTMLElement {
  const side = (s: { rows: number; errorRate: number; p99Ms: number | null }) =>
    `${num(s.rows)} rows, ${(s.errorRate * 100).toFixed(2)}% errors, p99 ${s.p99Ms === null ? '–' : `${num(s.p99Ms)} ms`}`;
  return table(
    ['step', 'window', 'canary', 'stable', 'prediction shift (JS)', 'judged', 'breaches'],
    steps.flatMap((step) =>
      step.comparisons.map((c, i) => [
        `${Math.round(step.weight * 100)}%`,
        String(i + 1),
        side(c.canary),
        side(c.stable),
        num(c.predictionShift),
        c.judged ? 'yes' : 'not enough traffic',
        c.breaches.length ? h('span', { class: 'outcome error' }, c.breaches.join('; ')) : 'none',
      ])
    ),
    { class: 'canary' }
  );
}

export async function releasesPage(focus?: string): Promise<Node> {
  const { releases, deployments, history } = await getJson<ReleaseList>('/api/releases');
  const shown = focus ? releases.filter((r) => r.workflowId === focus) : releases;
  const canary = focus && shown.some((r) => r.strategy?.kind === 'canary');
  const steps = canary
    ? await getJson<{ steps: CanaryStep[] }>(`/api/releases/${encodeURIComponent(focus)}/steps`).then(
        (r) => r.steps,
        (err: Error) => err
      )
    : undefined;
  const pending = shown.filter((r) => r.status === 'awaiting-approval');
  return h(
    'div',
    {},
    h('h1', {}, focus ? `Release ${focus}` : 'Releases and deployments'),
    pending.length
      ? h('div', { class: 'pending-list' }, ...pending.map(decisionForm))
      : h('p', { class: 'muted' }, 'No release is waiting for a decision.'),
    section(
      focus ? 'This release' : 'Releases',
      table(
        ['release', 'model', 'environment', 'strategy', 'status', 'outcome', 'started', 'decisions', 'checklist'],
        shown.map((r) => [
          link(`/releases/${encodeURIComponent(r.workflowId)}`, r.workflowId),
          link(`/models/${encodeURIComponent(r.model)}`, `${r.model}@${r.version}`),
          r.environment,
          strategyOf(r),
          badge(r.status),
          r.outcome ?? '–',
          time(r.startedAt),
          r.decisions.map((d) =>
            h(
              'div',
              {},
              `${d.decision} by ${d.by}${d.accepted ? '' : ' (not accepted)'}${d.comment ? `: ${d.comment}` : ''}`
            )
          ),
          h(
            'details',
            {},
            h('summary', {}, r.checklist ? (r.checklist.every((i) => i.ok) ? 'passed' : 'failed') : '–'),
            checklist(r)
          ),
        ]),
        { class: 'releases' }
      )
    ),
    steps === undefined
      ? null
      : section(
          'Canary steps',
          steps instanceof Error
            ? h('p', { class: 'muted' }, `Canary steps unavailable: ${steps.message}`)
            : steps.length
              ? canarySteps(steps)
              : h('p', { class: 'muted' }, 'No canary step yet.')
        ),
    section(
      'What serves where',
      table(
        ['model', 'environment', 'stable', 'canary', 'rollback target', 'updated'],
        deployments.map((d) => [
          link(`/models/${encodeURIComponent(d.model)}`, d.model),
          d.environment,
          `v${d.stableVersion}`,
          d.canaryVersion === null ? '–' : `v${d.canaryVersion} at ${Math.round(d.canaryWeight * 100)}%`,
          d.previousVersion === null ? '–' : `v${d.previousVersion}`,
          time(d.updatedAt),
        ]),
        { class: 'deployments' }
      )
    ),
    section(
      'Deployment history: promotions, canary steps, rollbacks',
      table(
        ['when', 'model', 'environment', 'action', 'stable', 'canary', 'by', 'reason'],
        history
          .filter((c) => !focus || c.releaseId?.startsWith(`${focus}/`))
          .map((c) => [
            time(c.at),
            c.model,
            c.environment,
            c.action,
            `v${c.stableVersion}`,
            c.canaryVersion === null ? '–' : `v${c.canaryVersion} at ${Math.round(c.canaryWeight * 100)}%`,
            c.by,
            c.reason,
          ])
      )
    )
  );
}
