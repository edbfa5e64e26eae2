// CI's own PostgreSQL database: `fresh` drops and recreates the database named in DATABASE_URL, `drop` drops it.
// A clean clone starts with an empty object store; a database kept from another checkout would point at artifacts
// (deployed packages, rollback targets) this one never had.
import pg from 'pg';

const [action] = process.argv.slice(2);
const url = new URL(process.env.DATABASE_URL ?? '');
const name = decodeURIComponent(url.pathname.slice(1));
if (!['fresh', 'drop'].includes(action ?? '') || !/^cairn_ci\w*$/.test(name)) {
  console.error('usage: DATABASE_URL=postgres://…/cairn_ci… tsx infra/ci-database.ts fresh|drop');
  process.exit(2);
}
url.pathname = '/postgres';
const client = new pg.Client({ connectionString: url.href });
await client.connect();
try {
  for (const db of [name, `${name}_test`])
    await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(db)} WITH (FORCE)`);
  if (action === 'fresh') await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
  console.log(`ci-database: ${name} ${action === 'fresh' ? 'created empty' : 'dropped'}`);
} finally {
  await client.end();
}
