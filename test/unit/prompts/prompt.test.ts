import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  checkPromptContent,
  definePrompt,
  diffPromptVersions,
  placeholders,
  promptDigest,
  PromptDefinitionError,
  PromptVariablesError,
  renderPrompt,
} from '../../../lib/prompts/prompt.js';

const answer = definePrompt({
  name: 'answer',
  template: 'Answer in {{ language }}, at most {{words}} words.\nQuestion: {{ question }}',
  variables: z.object({
    question: z.string().min(1),
    language: z.enum(['English', 'French']),
    words: z.number().int(),
  }),
  model: { name: 'gpt-test', temperature: 0, maxTokens: 200 },
});

function refused(fn: () => unknown): {
  field?: string;
  problems?: { field: string; message: string }[];
  message: string;
} {
  try {
    fn();
  } catch (err) {
    if (err instanceof PromptVariablesError || err instanceof PromptDefinitionError) return err as never;
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('prompts', () => {
  it('are content-addressed: the digest is the canonical content, whatever the order of its keys', () => {
    expect(answer.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    const { template, variables, model } = answer;
    const reordered = { model: { maxTokens: 200, temperature: 0, name: 'gpt-test' }, variables, template };
    expect(promptDigest(checkPromptContent(reordered, 'file.json'))).toBe(answer.digest);
    expect(promptDigest({ template: `${template}!`, variables, model })).not.toBe(answer.digest);
    expect(placeholders(template)).toEqual(['language', 'words', 'question']);
  });

  it('renders the template with variables the schema accepts', () => {
    expect(renderPrompt('answer', answer, { question: 'Why?', language: 'French', words: 12 })).toBe(
      'Answer in French, at most 12 words.\nQuestion: Why?'
    );
  });

  it('refuses missing, mistyped and unknown variables, naming each', () => {
    const err = refused(() => renderPrompt('answer@1', answer, { language: 'German', words: '12', extra: 1 }));
    expect(err).toBeInstanceOf(PromptVariablesError);
    expect(err.problems).toEqual(
      expect.arrayContaining([
        { field: 'question', message: 'missing' },
        { field: 'language', message: expect.stringContaining('English') },
        { field: 'words', message: expect.stringContaining('number') },
        { field: 'extra', message: 'not a variable of this prompt' },
      ])
    );
    expect(err.message).toMatch(/^answer@1: /);
  });

  it('refuses a template whose placeholders the variables do not declare, or braces that are not a placeholder', () => {
    const variables = { type: 'object', properties: { a: { type: 'string' } } };
    const model = { name: 'm' };
    expect(
      refused(() => checkPromptContent({ template: '{{ a }} {{ b }}', variables, model }, 'p.json'))
    ).toMatchObject({
      field: 'template',
      message: 'p.json: template: {{ b }} not declared in variables',
    });
    expect(refused(() => checkPromptContent({ template: '{{ a b }}', variables, model }, 'p.json')).field).toBe(
      'template'
    );
    expect(refused(() => checkPromptContent({ template: 'x', variables, model: { name: '' } }, 'p.json')).field).toBe(
      'model.name'
    );
    expect(
      refused(() => checkPromptContent({ template: 'x', variables: { type: 'string' }, model }, 'p.json')).field
    ).toBe('variables');
    expect(refused(() => definePrompt({ ...answer, name: 'Bad Name', variables: z.object({}) })).field).toBe('name');
  });

  it('diffs two versions line by line, template and parameters', () => {
    const next = {
      ...answer,
      template: answer.template.replace('at most', 'in at most'),
      model: { ...answer.model, temperature: 0.2 },
    };
    const patch = diffPromptVersions({ ...answer, label: 'answer@1' }, { ...next, label: 'answer@2' });
    expect(patch).toContain('--- answer@1');
    expect(patch).toContain('+++ answer@2');
    expect(patch).toContain('-Answer in {{ language }}, at most {{words}} words.');
    expect(patch).toContain('+Answer in {{ language }}, in at most {{words}} words.');
    expect(patch).toContain('-  "temperature": 0');
    expect(patch).toContain('+  "temperature": 0.2');
    expect(diffPromptVersions({ ...answer, label: 'a' }, { ...answer, label: 'b' })).toBe('');
  });
});
