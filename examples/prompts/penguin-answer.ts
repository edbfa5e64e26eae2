// A prompt in code: `cairn prompts create penguin-answer -m "..."` pushes it as a version (same text: same version).
import { definePrompt, z } from 'cairn';

export const penguinAnswer = definePrompt({
  name: 'penguin-answer',
  template:
    'You answer questions about the penguins of the Palmer Archipelago, in {{ language }}, in at most {{ words }} words.\n' +
    'Question: {{ question }}',
  variables: z.object({
    question: z.string().min(1),
    language: z.enum(['English', 'French', 'Spanish']),
    words: z.number().int().min(1).max(200),
  }),
  model: { name: 'penguin-chat', temperature: 0, maxTokens: 256 },
});
