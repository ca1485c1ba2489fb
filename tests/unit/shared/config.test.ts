import { availableParallelism } from 'node:os';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ENV_FIELDS, loadConfig } from '#shared/config';
import { CONFIG_ENV_KEYS } from '#shared/contracts/env';
import { ConfigError } from '#shared/errors';

/** What the stacks set on a Lambda (tests/bench/cold-start.ts FUNCTION_ENV), besides the runtime's own variables. */
const LAMBDA_ENV = {
  AWS_REGION: 'eu-west-1',
  DB_CLUSTER_ARN: 'arn:aws:rds:eu-west-1:123456789012:cluster:wflo',
  DB_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:wflo-AbCdEf',
  DB_NAME: 'wflo',
  ARTIFACTS_BUCKET: 'wflo-artifacts',
  LLM_PROVIDER: 'scripted',
  APPROVALS_TABLE: 'wflo-approvals',
};

describe('Function: loadConfig', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('builds the zod schemas of the variables that are set only (a cold start pays for ten, not fifty)', () => {
    // Prepare
    const built = CONFIG_ENV_KEYS.map((key) => [key, vi.spyOn(ENV_FIELDS[key], 'schema')] as const);

    // Act
    const config = loadConfig(LAMBDA_ENV);

    // Assess
    expect(config.store).toEqual({
      kind: 'data-api',
      resourceArn: LAMBDA_ENV.DB_CLUSTER_ARN,
      secretArn: LAMBDA_ENV.DB_SECRET_ARN,
      database: 'wflo',
    });
    expect(config.cache.ttlSeconds).toBe(86_400);
    const keys = built.filter(([, spy]) => spy.mock.calls.length > 0).map(([key]) => key);
    expect(keys.sort()).toEqual(Object.keys(LAMBDA_ENV).sort());
  });

  it('reads an unset variable as exactly what its schema makes of undefined', () => {
    // Prepare / Act / Assess: the shortcut for unset variables must not drift from the zod contract.
    expect(Object.keys(ENV_FIELDS).sort()).toEqual([...CONFIG_ENV_KEYS].sort());
    for (const key of CONFIG_ENV_KEYS) {
      const field = ENV_FIELDS[key];
      expect(field.schema().parse(undefined), key).toEqual(field.unset);
    }
  });

  it('defaults to the embedded target: PGlite under .wflo and the scripted demo model', () => {
    const config = loadConfig({});
    expect(config.store).toEqual({ kind: 'pglite', dataDir: '.wflo/pgdata' });
    expect(config.llm.defaultProvider).toBe('scripted');
    expect(config.llm.defaultModel).toBe('agent-demo');
    expect(config.api).toEqual({ port: 3000, host: '127.0.0.1', token: undefined, maxRunsInFlight: 32 });
  });

  it('reads the local API token and the bound on runs in flight, and refuses a short token', () => {
    const config = loadConfig({ WFLO_API_TOKEN: 'a'.repeat(32), WFLO_MAX_RUNS_IN_FLIGHT: '4' });
    expect(config.api.token).toBe('a'.repeat(32));
    expect(config.api.maxRunsInFlight).toBe(4);
    expect(() => loadConfig({ WFLO_API_TOKEN: 'short' })).toThrow(/WFLO_API_TOKEN/);
    expect(() => loadConfig({ WFLO_MAX_RUNS_IN_FLIGHT: '0' })).toThrow(/WFLO_MAX_RUNS_IN_FLIGHT/);
  });

  it('selects PostgreSQL when DATABASE_URL is set', () => {
    const config = loadConfig({
      DATABASE_URL: 'postgres://u:p@127.0.0.1:5432/wflo',
      DATABASE_POOL_SIZE: '4',
    });
    expect(config.store).toEqual({
      kind: 'postgres',
      url: 'postgres://u:p@127.0.0.1:5432/wflo',
      poolSize: 4,
    });
  });

  it('keeps PGlite in memory for memory://', () => {
    expect(loadConfig({ WFLO_DATA_DIR: 'memory://' }).store).toEqual({
      kind: 'pglite',
      dataDir: 'memory://',
    });
  });

  it('reads the default budget in exact micro-dollars and refuses sub-micro precision', () => {
    expect(loadConfig({ WFLO_DEFAULT_BUDGET_USD: '0.25' }).defaultBudgetMicros).toBe(250_000);
    expect(loadConfig({}).defaultBudgetMicros).toBeUndefined();
    expect(() => loadConfig({ WFLO_DEFAULT_BUDGET_USD: '0.0000001' })).toThrow(/WFLO_DEFAULT_BUDGET_USD/);
  });

  it('caps concurrent local sandboxes at the core count unless SANDBOX_MAX_CONCURRENT says otherwise', () => {
    expect(loadConfig({}).sandbox.maxConcurrent).toBe(availableParallelism());
    expect(loadConfig({ SANDBOX_MAX_CONCURRENT: '3' }).sandbox.maxConcurrent).toBe(3);
    expect(() => loadConfig({ SANDBOX_MAX_CONCURRENT: '0' })).toThrow(/SANDBOX_MAX_CONCURRENT/);
  });

  it('treats empty variables as unset', () => {
    expect(loadConfig({ DATABASE_URL: '', LLM_MODEL: '' }).store.kind).toBe('pglite');
  });

  it('names every bad variable at once', () => {
    expect(() =>
      loadConfig({ DATABASE_URL: 'mysql://x', WFLO_PORT: 'eighty', LLM_PROVIDER: 'magic' }),
    ).toThrow(ConfigError);
    try {
      loadConfig({ DATABASE_URL: 'mysql://x', WFLO_PORT: 'eighty', LLM_PROVIDER: 'magic' });
    } catch (err) {
      expect((err as Error).message).toMatch(/DATABASE_URL/);
      expect((err as Error).message).toMatch(/WFLO_PORT/);
      expect((err as Error).message).toMatch(/LLM_PROVIDER/);
    }
  });

  it('requires a model when the OpenAI-compatible provider is the default', () => {
    expect(() => loadConfig({ LLM_PROVIDER: 'openai-compatible' })).toThrow(/LLM_MODEL: required/);
    const config = loadConfig({
      LLM_PROVIDER: 'openai-compatible',
      LLM_MODEL: 'llama3.2',
      OPENAI_BASE_URL: 'http://127.0.0.1:11434/v1/',
    });
    expect(config.llm.openai.baseUrl).toBe('http://127.0.0.1:11434/v1');
  });

  it('accepts Bedrock as the default provider with a model id and no other settings', () => {
    expect(() => loadConfig({ LLM_PROVIDER: 'bedrock' })).toThrow(
      /LLM_MODEL: required when LLM_PROVIDER=bedrock/,
    );
    const config = loadConfig({ LLM_PROVIDER: 'bedrock', LLM_MODEL: 'amazon.nova-lite-v1:0' });
    expect(config.llm.defaultProvider).toBe('bedrock');
    expect(config.llm.defaultModel).toBe('amazon.nova-lite-v1:0');
  });

  it('requires a model and an API key when Anthropic is the default, and defaults its base URL', () => {
    expect(() => loadConfig({ LLM_PROVIDER: 'anthropic', ANTHROPIC_API_KEY: 'k' })).toThrow(
      /LLM_MODEL: required/,
    );
    expect(() => loadConfig({ LLM_PROVIDER: 'anthropic', LLM_MODEL: 'claude-haiku-4-5' })).toThrow(
      /ANTHROPIC_API_KEY \(or LLM_SECRET_ARN\): required/,
    );
    const config = loadConfig({
      LLM_PROVIDER: 'anthropic',
      LLM_MODEL: 'claude-haiku-4-5',
      ANTHROPIC_API_KEY: 'k',
    });
    expect(config.llm.anthropic).toEqual({ baseUrl: 'https://api.anthropic.com', apiKey: 'k' });
    expect(loadConfig({ ANTHROPIC_BASE_URL: 'http://127.0.0.1:8080/' }).llm.anthropic).toEqual({
      baseUrl: 'http://127.0.0.1:8080',
      apiKey: undefined,
    });
  });
});
