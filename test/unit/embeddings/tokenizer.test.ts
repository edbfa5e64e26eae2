import { describe, expect, it } from 'vitest';
import { WordPieceTokenizer } from '../../../lib/embeddings/tokenizer.js';

// A vocabulary of a few pieces; the id is the line number. The real one (30,522 pieces) is checked against the Python
// tokenizer on probe texts when a model is imported (test/integration/vector-index.test.ts).
const VOCAB = [
  '[PAD]',
  '[UNK]',
  '[CLS]',
  '[SEP]',
  'penguin',
  '##s',
  'on',
  'ice',
  '!',
  'cafe',
  'un',
  '##aff',
  '##able',
  '東',
  ',',
];
const ids = Object.fromEntries(VOCAB.map((t, i) => [t, i]));
const tokenizer = new WordPieceTokenizer({ vocab: VOCAB.join('\n'), maxTokens: 8 });
const encode = (text: string) => tokenizer.encode(text).map((id) => VOCAB[id]);

describe('WordPieceTokenizer (BERT uncased, as Hugging Face tokenizers runs it)', () => {
  it('lowercases, strips accents, splits punctuation and frames the text with [CLS] and [SEP]', () => {
    expect(encode('Penguins on ICE!')).toEqual(['[CLS]', 'penguin', '##s', 'on', 'ice', '!', '[SEP]']);
    expect(encode('Café,')).toEqual(['[CLS]', 'cafe', ',', '[SEP]']);
  });

  it('covers a word with the longest pieces first, and makes a word it cannot cover one [UNK]', () => {
    expect(encode('unaffable')).toEqual(['[CLS]', 'un', '##aff', '##able', '[SEP]']);
    expect(encode('unaffablex penguin')).toEqual(['[CLS]', '[UNK]', 'penguin', '[SEP]']);
  });

  it('spaces CJK characters apart, drops control characters, and treats tabs and newlines as spaces', () => {
    expect(encode('東東')).toEqual(['[CLS]', '東', '東', '[SEP]']);
    expect(encode('on\tice\u0007\non')).toEqual(['[CLS]', 'on', 'ice', 'on', '[SEP]']);
    expect(encode('')).toEqual(['[CLS]', '[SEP]']);
  });

  it('truncates to the maximum length, [SEP] included', () => {
    const out = tokenizer.encode('on ice on ice on ice on ice on ice');
    expect(out).toHaveLength(8);
    expect(out.at(-1)).toBe(ids['[SEP]']);
  });

  it('refuses a vocabulary without the special tokens', () => {
    expect(() => new WordPieceTokenizer({ vocab: 'a\nb', maxTokens: 8 })).toThrow(/no \[CLS\] token/);
  });
});
