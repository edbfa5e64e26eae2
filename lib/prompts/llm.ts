// The client of an OpenAI-compatible API (chat completions and embeddings), with every answer cached in PostgreSQL
// by what determines it: a rerun asks the provider nothing and gets the same answers.
import { sha256 } from '../artifacts/digest.js';
import type { CairnConfig } from '../config/index.js';
import { durationMs } from '../config/duration.js';
import type { Queryable } from '../db/pool.js';
import { CairnError } from '../errors.js';
import { canonicalJson } from '../ml/canonical-json.js';
import type { PromptModel } from './prompt.js';

export interface LlmSettings {
  /** e.g. https://api.openai.com/v1; unset: no calls can be made. */
  baseUrl?: string;
  apiKey?: string;
  timeoutMs: number;
  concurrency: number;
}

export function llmSettingsOf(config: Pick<CairnConfig, 'llm'>): LlmSettings {
  return {
    ...(config.llm.baseUrl ? { baseUrl: config.llm.baseUrl } : {}),
    ...(config.llm.apiKey ? { apiKey: config.llm.apiKey } : {}),
    timeoutMs: durationMs(config.llm.timeout),
    concurrency: config.llm.concurrency,
  };
}

/** The provider refused a request for what it is (4xx other than 429), or none is configured: a retry cannot help. */
export class LlmRequestError extends CairnError {
  override readonly name = 'LlmRequestError';
  readonly type = 'LlmRequestError';
  constructor(
    message: string,
    readonly status?: number
  ) {
    super(message);
  }
  override failureDetails() {
    return this.status === undefined ? undefined : { status: this.status };
  }
}

/** What one evaluation's calls cost: answers from the provider, answers from the cache. */
export interface LlmUsage {
  calls: number;
  cached: number;
}

/**
 * A client over `settings` whose answers are cached in cairn.llm_responses: a chat answer by (prompt digest, the
 * variables, the model parameters), an embedding by (model, text). Transient failures (network, timeout, 429, 5xx)
 * throw plain errors the activity's retry policy retries; a refused request throws LlmRequestError.
 */
export class CachedLlm {
  readonly usage: LlmUsage = { calls: 0, cached: 0 };
  /** Answers on their way: the same question asked twice at once is asked of the provider once. */
  private readonly inflight = new Map<string, Promise<unknown>>();

  constructor(
    private readonly db: Queryable,
    private readonly settings: LlmSettings
  ) {}

  /** The model's answer to a rendered prompt (one user message). */
  async chat(prompt: { digest: string; model: PromptModel }, variables: unknown, text: string): Promise<string> {
    const key = sha256(canonicalJson({ kind: 'chat', prompt: prompt.digest, variables, model: prompt.model }));
    return this.cached(key, 'chat', prompt.model.name, async () => {
      const body = await this.post('chat/completions', {
        model: prompt.model.name,
        messages: [{ role: 'user', content: text }],
        ...(prompt.model.temperature === undefined ? {} : { temperature: prompt.model.temperature }),
        ...(prompt.model.maxTokens === undefined ? {} : { max_tokens: prompt.model.maxTokens }),
      });
      const content = (body as { choices?: { message?: { content?: unknown } }[] }).choices?.[0]?.message?.content;
      if (typeof content !== 'string')
        throw new LlmRequestError('chat/completions: the answer has no choices[0].message.content');
      return content;
    });
  }

  /** The embedding of `text` by `model`. */
  async embedding(model: string, text: string): Promise<number[]> {
    const key = sha256(canonicalJson({ kind: 'embedding', model, text }));
    return this.cached(key, 'embedding', model, async () => {
      const body = await this.post('embeddings', { model, input: text });
      const vector = (body as { data?: { embedding?: unknown }[] }).data?.[0]?.embedding;
      if (!Array.isArray(vector) || !vector.every((v) => typeof v === 'number'))
        throw new LlmRequestError('embeddings: the answer has no data[0].embedding of numbers');
      return vector as number[];
    });
  }

  private cached<T>(key: string, kind: string, model: string, ask: () => Promise<T>): Promise<T> {
    let answer = this.inflight.get(key) as Promise<T> | undefined;
    if (answer) {
      this.usage.cached++;
      return answer;
    }
    answer = this.lookup(key, kind, model, ask).finally(() => this.inflight.delete(key));
    this.inflight.set(key, answer);
    return answer;
  }

  private async lookup<T>(key: string, kind: string, model: string, ask: () => Promise<T>): Promise<T> {
    const hit = await this.db.query<{ response: T }>('SELECT response FROM cairn.llm_responses WHERE key = $1', [key]);
    if (hit.rows[0]) {
      this.usage.cached++;
      return hit.rows[0].response;
    }
    const response = await ask();
    this.usage.calls++;
    // Two evaluations may ask at once: the first answer stored is the one everybody reads from then on.
    const stored = await this.db.query<{ response: T }>(
      `INSERT INTO cairn.llm_responses (key, kind, model, response) VALUES ($1, $2, $3, $4)
       ON CONFLICT (key) DO UPDATE SET key = EXCLUDED.key RETURNING response`,
      [key, kind, model, JSON.stringify(response)]
    );
    return stored.rows[0]!.response;
  }

  private async post(path: string, body: unknown): Promise<unknown> {
    const { baseUrl, apiKey, timeoutMs } = this.settings;
    if (!baseUrl)
      throw new LlmRequestError('no LLM endpoint is configured: set llm.baseUrl (CAIRN_LLM_BASE_URL) on the worker');
    const url = `${baseUrl.replace(/\/+$/, '')}/${path}`;
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    if (res.status === 429 || res.status >= 500)
      throw new Error(`${url} answered ${res.status}: ${text.slice(0, 500)}`);
    if (!res.ok)
      throw new LlmRequestError(`${url} refused the request (${res.status}): ${text.slice(0, 500)}`, res.status);
    try {
      return JSON.parse(text);
    } catch {
      throw new LlmRequestError(`${url} answered ${res.status} with something that is not JSON: ${text.slice(0, 200)}`);
    }
  }
}
