// `cairn keys …`: the ed25519 keys model packages are signed with. Keys are files (signing.keyFile, signing.trustDir),
// never rows: PostgreSQL only records what was done with them, in the audit log.
import type { Command } from 'commander';
import { recordAudit } from '../lib/audit/log.js';
import { loadConfig } from '../lib/config/index.js';
import { parseModelRef } from '../lib/registry/model-ref.js';
import { resolveVersion, setSignature } from '../lib/registry/models.js';
import { createSigningKey, PackageSigner, PackageTrust, revokeSigningKey } from '../lib/signing/packages.js';
import { requireRole } from './auth.js';
import { json, print, UsageError, when, withDb } from './io.js';
import { formatTable } from './table.js';

export function addKeyCommands(program: Command): void {
  const keys = program.command('keys').description('package signing keys (files; rotation in the README)');

  keys
    .command('create')
    .description('make a key pair: the private key to signing.keyFile (or --key-file), the public key trusted')
    .requiredOption('--signer <name>', 'who signs with it (a team, a CI system)')
    .option('--key-file <path>', 'where the private key goes (default: signing.keyFile)')
    .action(async (o: { signer: string; keyFile?: string }) => {
      const config = loadConfig();
      await withDb(async (db) => {
        const { principal } = await requireRole('admin', db);
        const keyFile = o.keyFile ?? config.signing.keyFile!;
        const key = createSigningKey(keyFile, config.signing.trustDir!, o.signer);
        await recordAudit(db, {
          actor: principal,
          action: 'key.created',
          subject: key.keyId,
          details: { signer: key.signer },
        });
        print(`key ${key.keyId} for ${key.signer}: private key in ${keyFile} (keep it secret), public key trusted in`);
        print(`${config.signing.trustDir}/${key.keyId}.json (copy it to every server's signing.trustDir)`);
      });
    });

  keys
    .command('list')
    .description('the keys this machine trusts (signing.trustDir), and the one it signs with')
    .option('--json', 'print JSON')
    .action((o: { json?: boolean }) => {
      const config = loadConfig();
      const trusted = new PackageTrust(config.signing.trustDir!).list();
      const signing = PackageSigner.load(config.signing.keyFile!)?.keyId;
      if (o.json) {
        json({ signingKey: signing ?? null, trusted });
        return;
      }
      print(
        formatTable([
          ['key', 'signer', 'created', 'revoked', 'signs here'],
          ...trusted.map((k) => [
            k.keyId,
            k.signer,
            when(new Date(k.createdAt)),
            k.revokedAt ? when(new Date(k.revokedAt)) : '-',
            k.keyId === signing ? 'yes' : '-',
          ]),
        ])
      );
    });

  keys
    .command('revoke')
    .description('stop trusting a key: every loader and the release checklist refuse what it signed')
    .argument('<keyId>')
    .action(async (keyId: string) => {
      const config = loadConfig();
      await withDb(async (db) => {
        const { principal } = await requireRole('admin', db);
        const key = revokeSigningKey(config.signing.trustDir!, keyId);
        await recordAudit(db, {
          actor: principal,
          action: 'key.revoked',
          subject: keyId,
          details: { signer: key.signer },
        });
        print(`key ${keyId} (${key.signer}) revoked in ${config.signing.trustDir}; copy the file to every server`);
      });
    });

  keys
    .command('sign')
    .description(
      "sign a registered version with this machine's key (after a rotation, or versions from before signing)"
    )
    .argument('<ref>', '<model>@<version>')
    .action(async (ref: string) => {
      const config = loadConfig();
      const signer = PackageSigner.load(config.signing.keyFile!);
      if (!signer) throw new UsageError(`no signing key at ${config.signing.keyFile} (cairn keys create)`);
      await withDb(async (db, store) => {
        const { principal } = await requireRole('admin', db);
        const v = await resolveVersion(db, parseModelRef(ref));
        // Only bytes that still match their digest are vouched for.
        await store.getBytes(v.packageDigest);
        const signature = await setSignature(db, v, signer);
        await recordAudit(db, {
          actor: principal,
          action: 'key.signed',
          subject: `${v.model}@${v.version}`,
          details: { key: signature.keyId, package: v.packageDigest },
        });
        print(
          `${v.model}@${v.version} (package ${v.packageDigest}) signed with key ${signature.keyId} (${signature.signer})`
        );
      });
    });
}
