// `cairn audit list|verify`: the hash-chained log of every state change.
import type { Command } from 'commander';
import { listAudit, verifyAudit } from '../lib/audit/log.js';
import { json, print, when, withDb } from './io.js';
import { formatTable } from './table.js';
import { EXIT } from './training.js';

export function addAuditCommands(program: Command): void {
  const audit = program.command('audit').description('the append-only, hash-chained log of every state change');
  audit
    .command('list')
    .description('the latest state changes, newest first')
    .option('-s, --subject <prefix>', 'only subjects starting with this (a model, a release id)')
    .option('-a, --action <prefix>', 'only actions starting with this (release., deployment., token., alias.)')
    .option('-n, --limit <n>', 'how many', '50')
    .option('--json', 'print JSON')
    .action(async (o: { subject?: string; action?: string; limit: string; json?: boolean }) => {
      await withDb(async (db) => {
        const rows = await listAudit(db, {
          ...(o.subject ? { subject: o.subject } : {}),
          ...(o.action ? { action: o.action } : {}),
          limit: Number(o.limit),
        });
        if (o.json) return json(rows);
        print(
          formatTable([
            ['seq', 'at', 'actor', 'action', 'subject', 'hash'],
            ...rows.map((r) => [String(r.seq), when(r.at), r.actor, r.action, r.subject, `${r.hash.slice(0, 12)}…`]),
          ])
        );
      });
    });
  audit
    .command('verify')
    .description('recompute the hash chain; name the first row that was changed, removed or reordered')
    .action(async () => {
      await withDb(async (db) => {
        const v = await verifyAudit(db);
        if (v.broken) {
          process.stderr.write(`cairn: audit log broken at row ${v.broken.seq}: ${v.broken.reason}\n`);
          process.exitCode = EXIT.gateFailed;
          return;
        }
        print(`audit log intact: ${v.rows} rows, head ${v.head ?? '(empty)'}`);
      });
    });
}
