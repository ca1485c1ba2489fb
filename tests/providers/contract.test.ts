import type { BedrockRuntimeClient } from '@aws-sdk/client-bedrock-runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LlmProviderError, LlmRequestInvalidError } from '#shared/errors';
import { AnthropicProvider } from '#shared/llm/anthropic';
import { BedrockProvider } from '#shared/llm/bedrock';
import { OpenAiCompatibleProvider } from '#shared/llm/openai-compatible';
import { estimateTokens, parseScript, ScriptedProvider } from '#shared/llm/scripted';
import { worstCaseInputTokens } from '#shared/llm/tokens';
import type { LlmProvider, LlmRequest } from '#shared/llm/types';
import { AnthropicProtocolServer } from '../helpers/anthropic-server.ts';
import { BedrockProtocolServer } from '../helpers/bedrock-server.ts';
import { OpenAiProtocolServer } from '../helpers/openai-server.ts';
import { type Fault, serveDuringTests } from '../helpers/protocol-server.ts';

/** The provider's own timeout in these tests; the margin allows for a loaded machine. */
const TIMEOUT_MS = 300;
const MARGIN_MS = 1_200;
/** Text that must never appear in an error message: errors end up in logs and step rows. */
const PROMPT = 'PROMPT-4f1d: the secret plan is in the attic';

const request: LlmRequest = {
  model: 'contract-model',
  system: 'be brief',
  messages: [{ role: 'user', content: PROMPT }],
  maxTokens: 64,
  temperature: 0,
};

/** One provider under the contract: its protocol server and how to script that server's replies. */
interface Subject {
  readonly name: string;
  /** Started for the block; faults (`stall`, `reset`, `hang`) go straight into its queue. */
  readonly server: Parameters<typeof serveDuringTests>[0] & { readonly queue: { push(f: Fault): unknown } };
  /** An adapter aimed at the server, with the provider's own timeout. */
  provider(timeoutMs: number): LlmProvider;
  /** Queues a normal reply; `usage` null leaves usage out of the reply. */
  reply(text: string, usage: { input: number; output: number } | null): void;
  /** Queues an error status with extra headers (Bedrock: the exception the service sends with it). */
  status(status: 400 | 429, headers?: Record<string, string>): void;
  /** Queues a 200 whose body is not JSON. */
  malformed(): void;
  /** Releases what `provider` created, before the server stops. */
  close?(): void;
}

const GATEWAY_PAGE = '<html>gateway</html>';

function openAi(): Subject {
  const server = new OpenAiProtocolServer();
  return {
    name: 'openai-compatible',
    server,
    provider: (timeoutMs) => new OpenAiCompatibleProvider({ baseUrl: server.url, apiKey: 'sk', timeoutMs }),
    reply: (content, u) =>
      server.queue.push({
        kind: 'completion',
        content,
        usage: u && { prompt: u.input, completion: u.output },
      }),
    status: (status, headers) => server.queue.push({ kind: 'status', status, ...(headers && { headers }) }),
    malformed: () => server.queue.push({ kind: 'raw', body: GATEWAY_PAGE }),
  };
}

function anthropic(): Subject {
  const server = new AnthropicProtocolServer();
  return {
    name: 'anthropic',
    server,
    provider: (timeoutMs) => new AnthropicProvider({ baseUrl: server.url, apiKey: 'sk-ant', timeoutMs }),
    reply: (text, usage) => server.queue.push({ kind: 'message', blocks: [text], usage }),
    status: (status, headers) => server.queue.push({ kind: 'status', status, ...(headers && { headers }) }),
    malformed: () => server.queue.push({ kind: 'raw', body: GATEWAY_PAGE }),
  };
}

function bedrock(): Subject {
  const server = new BedrockProtocolServer();
  const clients: BedrockRuntimeClient[] = [];
  const exception = { 400: 'ValidationException', 429: 'ThrottlingException' } as const;
  return {
    name: 'bedrock',
    server,
    provider: (timeoutMs) => {
      const client = server.client();
      clients.push(client);
      return new BedrockProvider({ client, timeoutMs });
    },
    reply: (text, usage) => server.queue.push({ kind: 'converse', text, usage }),
    status: (status, headers) =>
      server.queue.push({ kind: 'exception', status, type: exception[status], ...(headers && { headers }) }),
    malformed: () => server.queue.push({ kind: 'raw', status: 200, body: GATEWAY_PAGE }),
    close: () => {
      for (const c of clients) c.destroy();
    },
  };
}

/** Runs `call` and returns what it threw, with how long it took. */
async function failure(call: Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const started = performance.now();
  try {
    await call;
  } catch (error) {
    return { error, ms: performance.now() - started };
  }
  throw new Error('expected the call to fail, and it succeeded');
}

describe.each([openAi(), anthropic(), bedrock()])('Provider contract: $name', (subject) => {
  let provider: LlmProvider;
  serveDuringTests(subject.server);
  beforeAll(() => {
    provider = subject.provider(TIMEOUT_MS);
  });
  afterAll(() => subject.close?.());

  it('normalizes a reply: text, stop reason and usage', async () => {
    // Prepare
    subject.reply('four', { input: 40, output: 3 });

    // Act
    const r = await provider.complete(request);

    // Assess
    expect(r.text).toBe('four');
    expect(r.stopReason).toBe('end_turn');
    expect(r.model).toBe('contract-model');
    expect(r.usage).toEqual({ inputTokens: 40, outputTokens: 3, cachedInputTokens: 0 });
    expect(r.usageEstimated).toBeUndefined();
  });

  it('fails retryably within its timeout when the headers arrive and the body stalls', async () => {
    // Prepare
    subject.server.queue.push({ kind: 'stall' });

    // Act
    const { error, ms } = await failure(provider.complete(request));

    // Assess
    expect(error).toBeInstanceOf(LlmProviderError);
    expect((error as Error).message).toMatch(/timed out after 300 ms/);
    expect(ms).toBeLessThan(TIMEOUT_MS + MARGIN_MS);
  });

  it('fails retryably, naming the deadline, when the caller aborts a stalled body', async () => {
    // Prepare: the provider would wait 10 s; the caller's deadline fires first
    const patient = subject.provider(10_000);
    subject.server.queue.push({ kind: 'stall' });

    // Act
    const { error, ms } = await failure(patient.complete(request, AbortSignal.timeout(100)));

    // Assess
    expect(error).toBeInstanceOf(LlmProviderError);
    expect((error as Error).message).toMatch(/aborted at the deadline/);
    expect(ms).toBeLessThan(100 + MARGIN_MS);
  });

  it('fails retryably when the connection is reset mid-body', async () => {
    // Prepare
    subject.server.queue.push({ kind: 'reset' });

    // Act
    const { error } = await failure(provider.complete(request));

    // Assess: no error status; the SDK reports the 200 its headers carried and then a truncated body
    expect(error).toBeInstanceOf(LlmProviderError);
    expect([undefined, 200]).toContain((error as LlmProviderError).status);
  });

  it('fails retryably on a 200 whose body is not JSON', async () => {
    // Prepare
    subject.malformed();

    // Act
    const { error } = await failure(provider.complete(request));

    // Assess
    expect(error).toBeInstanceOf(LlmProviderError);
    expect((error as Error).message).toMatch(/not JSON|SyntaxError/);
  });

  it('fails retryably on 429, keeping the status and the Retry-After seconds', async () => {
    // Prepare
    subject.status(429, { 'retry-after': '7' });

    // Act
    const { error } = await failure(provider.complete(request));

    // Assess
    expect(error).toBeInstanceOf(LlmProviderError);
    expect(error).toMatchObject({ name: 'LlmProviderError', status: 429, retryAfterSeconds: 7 });
  });

  it('fails without retry on 400', async () => {
    // Prepare
    subject.status(400);

    // Act
    const { error } = await failure(provider.complete(request));

    // Assess
    expect(error).toBeInstanceOf(LlmRequestInvalidError);
    expect(error).toMatchObject({ name: 'LlmRequestInvalidError', status: 400 });
  });

  it('charges a reply without usage at the worst case it reserved, and says it is an estimate', async () => {
    // Prepare
    subject.reply('four', null);

    // Act
    const r = await provider.complete(request);

    // Assess: the bound llm-invoke reserved before the call, so a budget can never be undercharged
    expect(r.text).toBe('four');
    expect(r.usage).toEqual({
      inputTokens: worstCaseInputTokens(request.system, request.messages),
      outputTokens: request.maxTokens,
      cachedInputTokens: 0,
    });
    expect(r.usageEstimated).toBe(true);
  });

  it('keeps the prompt out of every error message', async () => {
    // Prepare
    const errors: unknown[] = [];
    const faults = [
      () => subject.status(400),
      () => subject.status(429),
      () => subject.malformed(),
      () => subject.server.queue.push({ kind: 'reset' }),
      () => subject.server.queue.push({ kind: 'stall' }),
    ];

    // Act
    for (const queue of faults) {
      queue();
      errors.push((await failure(provider.complete(request))).error);
    }

    // Assess
    expect(errors).toHaveLength(faults.length);
    for (const e of errors) expect((e as Error).message).not.toContain('secret plan');
  });
});

describe('Provider contract: scripted', () => {
  const provider = new ScriptedProvider([
    parseScript(
      {
        model: 'contract-model',
        priceAs: 'openai/gpt-4o-mini',
        rules: [
          { when: { lastUserIncludes: 'busy' }, reply: { error: { status: 429, message: 'slow down' } } },
          { when: { lastUserIncludes: 'bad' }, reply: { error: { status: 400, message: 'bad request' } } },
          { when: {}, reply: { text: 'four' } },
        ],
      },
      'contract',
    ),
  ]);
  const asking = (content: string): LlmRequest => ({ ...request, messages: [{ role: 'user', content }] });

  it('normalizes a reply with usage present and the same on every call', async () => {
    // Act
    const [a, b] = [await provider.complete(request), await provider.complete(request)];

    // Assess
    expect(a).toEqual(b);
    expect(a).toEqual({
      text: 'four',
      stopReason: 'end_turn',
      model: 'contract-model',
      usage: {
        inputTokens: estimateTokens(['be brief', PROMPT]),
        outputTokens: estimateTokens(['four']),
        cachedInputTokens: 0,
      },
    });
  });

  it('fails retryably on a scripted 429 and without retry on a scripted 400', async () => {
    // Act
    const busy = await failure(provider.complete(asking('busy')));
    const bad = await failure(provider.complete(asking('bad')));

    // Assess
    expect(busy.error).toBeInstanceOf(LlmProviderError);
    expect(busy.error).toMatchObject({ status: 429 });
    expect(bad.error).toBeInstanceOf(LlmRequestInvalidError);
    expect(bad.error).toMatchObject({ status: 400 });
  });
});
