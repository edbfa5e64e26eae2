// A prompt in code: `cairn prompts create penguin-island -m "..."` pushes it as a version (same text: same version).
// penguin-island-v2.json is its next version, pushed from a file; islands.jsonl is an evaluation dataset for both
// (every 23rd penguin of vega-datasets' penguins.json, its island the reference answer).
import { definePrompt, defineScorer, z } from 'cairn';

export const penguinIsland = definePrompt({
  name: 'penguin-island',
  template:
    'A {{ species }} penguin has a beak {{ beak }} mm long and weighs {{ mass }} g.\n' +
    'On which island of the Palmer Archipelago was it recorded?',
  variables: z.object({
    species: z.enum(['Adelie', 'Chinstrap', 'Gentoo']),
    beak: z.number().positive(),
    mass: z.number().positive(),
  }),
  model: { name: 'penguin-chat', temperature: 0, maxTokens: 64 },
});

/** 1 when the answer names the reference island as a word, however it is phrased: `--scorer project:names-the-island`. */
export const namesTheIsland = defineScorer({
  name: 'names-the-island',
  description: 'the answer names the right island, in a sentence or alone',
  score: (answer, row) => {
    const words: string[] = answer.toLowerCase().match(/[a-z]+/g) ?? [];
    return words.includes(row.reference?.toLowerCase() ?? '') ? 1 : 0;
  },
});
