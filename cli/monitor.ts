// `cairn monitor report|check`: what the deployment monitors found, and a check on demand.
import type { Command } from 'commander';
import type { ColumnDrift } from '../lib/drift/detect.js';
import type { MonitoringReport } from '../lib/monitoring/report.js';
import { latestReports } from '../lib/monitoring/reports.js';
import { checkNowSignal } from '../workflows/monitor-model.js';
import { requirePrincipal } from './auth.js';
import { json, print, reportContext, UsageError, withClient, withDb } from './io.js';
import { formatTable } from './table.js';

/** Money: small amounts (a CPU-minute costs a thousandth) keep three significant digits. */
const money = (v: number) => (v === 0 || v >= 0.01 ? v.toFixed(4) : v.toPrecision(3));

const fixed = (v: number | null | undefined, digits = 4) =>
  v === null || v === undefined || Number.isNaN(v) ? '-' : v.toFixed(digits);

function statistics(c: ColumnDrift): string {
  const s = c.statistics;
  const test =
    'ks' in s && s.ks
      ? `KS p ${s.ks.adjustedPValue.toExponential(2)}`
      : 'chiSquared' in s && s.chiSquared
        ? `chi2 p ${s.chiSquared.adjustedPValue.toExponential(2)}`
        : '';
  const unseen =
    'unseen' in s && s.unseen.length
      ? `, unseen ${s.unseen.slice(0, 3).join(' ')}${s.unseen.length > 3 ? '…' : ''}`
      : '';
  const w = 'wassersteinNormed' in s ? `, W ${fixed(s.wassersteinNormed, 3)} std` : '';
  return [test, `PSI ${fixed(s.psi, 3)}, JS ${fixed(s.jensenShannon, 3)}${w}${unseen}`].filter(Boolean).join('; ');
}

/** A report as a person reads it: the verdict, then volume, latency, cost, decay, and one line per feature. */
export function formatReport(r: MonitoringReport, retrainId: string | null): string {
  const lines = [
    `${r.model}@${r.version} in ${r.environment}, ${r.window.from} .. ${r.window.to}: ${r.status.toUpperCase()}`,
    `  ${r.summary}`,
    '',
    `volume       ${r.volume.requests} requests, ${r.volume.predictions} predictions, ${r.volume.errors} errors, ${r.volume.sampledRows} rows sampled`,
    `latency      p50 ${fixed(r.latency.p50Ms, 2)} ms, p99 ${fixed(r.latency.p99Ms, 2)} ms${r.latency.limitMs ? ` (limit ${r.latency.limitMs} ms)` : ''}`,
    `cost         training ${money(r.cost.training)} + inference ${money(r.cost.inference)} (${r.cost.per1000} per 1,000) = ${money(r.cost.total)}`,
  ];
  if (r.performance) {
    const p = r.performance;
    lines.push(
      `performance  ${p.metric} ${p.serving === null ? `not measured (${p.labels} labels)` : `${fixed(p.serving)} on ${p.labels} labels`} vs ${fixed(p.training)} at training${p.degradation === null ? '' : p.degradation > 0 ? `, worse by ${fixed(p.degradation)} (limit ${p.limit})` : `, better by ${fixed(-p.degradation)}`}`
    );
  }
  if (r.dataDrift?.note) lines.push(`drift        ${r.dataDrift.note}`);
  const columns = [...(r.dataDrift?.columns ?? []), ...(r.predictionDrift ? [r.predictionDrift] : [])];
  if (columns.length) {
    lines.push('');
    lines.push(
      formatTable([
        ['column', 'method', 'severity', 'drifted', 'statistics'],
        ...columns.map((c) => [c.column, c.method, c.severity, c.drifted ? 'YES' : 'no', statistics(c)]),
      ])
    );
  }
  if (retrainId) lines.push('', `retraining requested: ${retrainId} (its release waits for approval)`);
  return lines.join('\n');
}

export function addMonitorCommands(program: Command): void {
  const monitor = program.command('monitor').description('deployment monitoring: drift, decay, latency, cost');
  monitor
    .command('report')
    .description('the latest monitoring report of a model')
    .argument('<model>', 'model name')
    .option('-e, --env <environment>', 'environment', 'production')
    .option('-n, --last <n>', 'how many reports, newest first', '1')
    .option('--json', 'print JSON')
    .option(
      '--html [file]',
      'write the reports over time as one self-contained HTML file (default <model>-<env>-monitoring.html)'
    )
    .action(async (model: string, o: { env: string; last: string; json?: boolean; html?: string | true }) => {
      await withDb(async (db) => {
        if (o.html) {
          const { writeMonitoringReport } = await import('../console/report.js');
          const file = o.html === true ? `${model}-${o.env}-monitoring.html` : o.html;
          const written = await writeMonitoringReport(reportContext(db), model, o.env, file);
          return print(
            `wrote ${written.file} (${Math.ceil(written.bytes / 1024)} KiB): open it in a browser, it needs no network`
          );
        }
        const reports = await latestReports(db, model, o.env, Number(o.last));
        if (!reports.length)
          throw new UsageError(
            `no monitoring report for ${model} in ${o.env} yet (is it released? cairn deployments list)`
          );
        if (o.json) return json(reports);
        print(reports.map((r) => formatReport(r.report, r.retrainId)).join('\n\n'));
      });
    });
  monitor
    .command('check')
    .description("ask the deployment's monitor for a check now instead of at the end of its interval")
    .argument('<model>', 'model name')
    .option('-e, --env <environment>', 'environment', 'production')
    .action(async (model: string, o: { env: string }) => {
      await requirePrincipal();
      await withClient(async (client) => {
        const workflowId = `monitor-${model}-${o.env}`;
        await client.workflow.getHandle(workflowId).signal(checkNowSignal);
        print(`asked ${workflowId} for a check; see it with: cairn monitor report ${model} --env ${o.env}`);
      });
    });
}
