// Searches an index online with WordNet glosses of one topic, as queries about that topic would arrive:
//   CAIRN_TOKEN=<a token with search:<index>> npx tsx examples/indexes/search-topic.ts noun.food 30 [index] [server]
// Queries about the corpus's own topic (noun.animal for wordnet-search) leave `cairn indexes monitor` quiet; another
// topic moves the query embeddings away from the corpus, and the next check raises a drift alert.
import { readGlosses } from './wordnet.js';

const [topic = 'noun.food', count = '30', index = 'wordnet-search', server = 'http://127.0.0.1:8080'] =
  process.argv.slice(2);
const token = process.env.CAIRN_TOKEN;
if (!token) throw new Error('set CAIRN_TOKEN to a token with the role search:<index>');
// Glosses spread over the topic's first 2,000, every `every`-th (a multiple of 10 less one: for noun.animal, held-out
// queries of the example index).
const every = Math.max(10, Math.floor(2000 / Number(count) / 10) * 10);
const queries = (await readGlosses([topic]))
  .slice(0, 2000)
  .filter((_, i) => i % every === every - 1)
  .slice(0, Number(count));
for (const gloss of queries) {
  const res = await fetch(`${server}/v1/indexes/${index}/search`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ query: gloss.text, k: 5 }),
  });
  if (!res.ok) throw new Error(`${res.status}: ${await res.text()}`);
}
process.stdout.write(
  `${queries.length} searches of ${index}, each a ${topic} gloss, e.g. ${JSON.stringify(queries[0]?.text)}\n`
);
