/**
 * BERT's uncased WordPiece tokenizer, as Hugging Face `tokenizers` runs it for sentence-transformers models
 * (BertNormalizer, BertPreTokenizer, WordPiece, `[CLS] … [SEP]`, truncated to the model's maximum length). Written
 * here so query embeddings need no Python: an imported model is checked against its Python tokenizer's ids on probe
 * texts before it is registered (lib/embeddings/model.ts), so a difference is found there, not in search results.
 */
export interface TokenizerSpec {
  /** vocab.txt: one token per line, the id is the line number. */
  vocab: string;
  /** The model's maximum sequence length, special tokens included. */
  maxTokens: number;
}

const isControl = (c: string) => c !== '\t' && c !== '\n' && c !== '\r' && /\p{C}/u.test(c);
const isWhitespace = (c: string) => c === ' ' || c === '\t' || c === '\n' || c === '\r' || /\p{Zs}/u.test(c);
function isPunctuation(c: string): boolean {
  const cp = c.codePointAt(0)!;
  if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126))
    return true;
  return /\p{P}/u.test(c);
}
function isCjk(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) ||
    (cp >= 0x2b820 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0x2f800 && cp <= 0x2fa1f)
  );
}

const MAX_WORD_CHARS = 100;

export class WordPieceTokenizer {
  private readonly ids = new Map<string, number>();
  readonly cls: number;
  readonly sep: number;
  readonly unk: number;

  constructor(private readonly spec: TokenizerSpec) {
    spec.vocab.split('\n').forEach((token, id) => {
      const t = token.replace(/\r$/, '');
      if (t && !this.ids.has(t)) this.ids.set(t, id);
    });
    const special = (t: string) => {
      const id = this.ids.get(t);
      if (id === undefined) throw new Error(`the vocabulary has no ${t} token`);
      return id;
    };
    this.cls = special('[CLS]');
    this.sep = special('[SEP]');
    this.unk = special('[UNK]');
  }

  /** The ids of `[CLS] text [SEP]`, at most `maxTokens` of them. */
  encode(text: string): number[] {
    const ids: number[] = [this.cls];
    const room = this.spec.maxTokens - 1;
    for (const word of this.words(text)) {
      for (const id of this.wordPieces(word)) {
        if (ids.length >= room) return [...ids, this.sep];
        ids.push(id);
      }
    }
    ids.push(this.sep);
    return ids;
  }

  /** BertNormalizer (clean text, space around CJK, strip accents, lowercase), then split on space and punctuation. */
  private words(text: string): string[] {
    let cleaned = '';
    for (const c of text) {
      const cp = c.codePointAt(0)!;
      if (cp === 0 || cp === 0xfffd || isControl(c)) continue;
      if (isWhitespace(c)) cleaned += ' ';
      else if (isCjk(cp)) cleaned += ` ${c} `;
      else cleaned += c;
    }
    // Lowercased one character at a time, as Rust's char::to_lowercase (no final-sigma rule).
    const normalized = Array.from(cleaned.normalize('NFD').replace(/\p{Mn}/gu, ''), (c) => c.toLowerCase()).join('');
    const words: string[] = [];
    let word = '';
    for (const c of normalized) {
      if (isWhitespace(c)) {
        if (word) words.push(word);
        word = '';
      } else if (isPunctuation(c)) {
        if (word) words.push(word);
        words.push(c);
        word = '';
      } else word += c;
    }
    if (word) words.push(word);
    return words;
  }

  /** Greedy longest match first; a word that cannot be covered is one `[UNK]`. */
  private wordPieces(word: string): number[] {
    const chars = Array.from(word);
    if (chars.length > MAX_WORD_CHARS) return [this.unk];
    const pieces: number[] = [];
    let start = 0;
    while (start < chars.length) {
      let end = chars.length;
      let found: number | undefined;
      while (start < end) {
        const piece = (start > 0 ? '##' : '') + chars.slice(start, end).join('');
        found = this.ids.get(piece);
        if (found !== undefined) break;
        end--;
      }
      if (found === undefined) return [this.unk];
      pieces.push(found);
      start = end;
    }
    return pieces;
  }
}
