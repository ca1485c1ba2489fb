import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { withSecretApiKey } from '#local/engine/wiring';
import { loadConfig } from '#shared/config';
import { ConfigError } from '#shared/errors';

const sm = mockClient(SecretsManagerClient);
const ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:wflo-llm-AbCdEf';

describe('Function: withSecretApiKey', () => {
  afterEach(() => sm.reset());

  it('puts a raw-string secret into the default provider settings', async () => {
    sm.on(GetSecretValueCommand, { SecretId: ARN }).resolves({ SecretString: 'sk-live-123\n' });
    const config = await withSecretApiKey(
      loadConfig({ LLM_PROVIDER: 'anthropic', LLM_MODEL: 'claude-haiku-4-5', LLM_SECRET_ARN: ARN }),
      new SecretsManagerClient({}),
    );
    expect(config.llm.anthropic.apiKey).toBe('sk-live-123');
    expect(config.llm.openai.apiKey).toBeUndefined();
  });

  it('reads apiKey from a JSON secret', async () => {
    sm.on(GetSecretValueCommand).resolves({ SecretString: '{"apiKey":"sk-json"}' });
    const config = await withSecretApiKey(
      loadConfig({ LLM_PROVIDER: 'openai-compatible', LLM_MODEL: 'gpt-4o-mini', LLM_SECRET_ARN: ARN }),
      new SecretsManagerClient({}),
    );
    expect(config.llm.openai.apiKey).toBe('sk-json');
  });

  it('refuses an empty or malformed secret with a clear error', async () => {
    sm.on(GetSecretValueCommand).resolves({ SecretString: '{"key":"x"}' });
    const cfg = loadConfig({
      LLM_PROVIDER: 'openai-compatible',
      LLM_MODEL: 'gpt-4o-mini',
      LLM_SECRET_ARN: ARN,
    });
    await expect(withSecretApiKey(cfg, new SecretsManagerClient({}))).rejects.toThrow(ConfigError);
    sm.on(GetSecretValueCommand).resolves({});
    await expect(withSecretApiKey(cfg, new SecretsManagerClient({}))).rejects.toThrow(/no string value/);
  });

  it('calls nothing when no secret is configured', async () => {
    const cfg = loadConfig({});
    expect(await withSecretApiKey(cfg, new SecretsManagerClient({}))).toBe(cfg);
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(0);
  });
});
