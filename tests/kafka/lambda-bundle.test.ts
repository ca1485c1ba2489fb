import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import type { OutgoingMessage } from '#shared/events/kafka';
import { EXECUTION_EVENTS_TOPIC, relayMessage } from '#shared/events/kafka';
import type { ensureTopics as EnsureTopics } from '#shared/events/kafka-admin';
import type { kafkaPublisher as KafkaPublisher, KafkaSettings } from '#shared/events/kafka-client';
import { esbuildOptions, REPO_ROOT } from '../../infra/constructs/wflo-function.ts';
import { isInsideRepo } from '../infra/lambda-sandbox.ts';
import { BROKERS, kafkaSettings, startConsumer, waitFor } from './kafka-helpers.ts';

/*
 * The Kafka client as the Lambda bundles carry it (BUNDLE_OPTIONS: @platformatic/kafka cut to its producer and
 * admin, CRC32C in JavaScript instead of WebAssembly, an ajv that compiles nothing; infra/constructs/bundling/)
 * against the real local broker. The broker checks each record batch's CRC32C and refuses a wrong one
 * (CORRUPT_MESSAGE), so a publish that every consumer reads back proves the bundled client writes what the
 * package writes. Bundled to a directory outside the repository, as on Lambda.
 */

const dir = realpathSync(mkdtempSync(join(tmpdir(), 'wflo-kafka-bundle-')));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface BundledKafka {
  readonly kafkaPublisher: typeof KafkaPublisher;
  readonly ensureTopics: typeof EnsureTopics;
}

async function bundledKafka(): Promise<{ module: BundledKafka; source: string }> {
  const outfile = join(dir, 'index.mjs');
  await build({
    stdin: {
      contents: `export { kafkaPublisher } from './functions/shared/events/kafka-client.ts';
export { ensureTopics } from './functions/shared/events/kafka-admin.ts';`,
      resolveDir: REPO_ROOT,
      loader: 'ts',
    },
    ...esbuildOptions(),
    outfile,
    logLevel: 'error',
  });
  return {
    module: (await import(pathToFileURL(outfile).href)) as BundledKafka,
    source: readFileSync(outfile, 'utf8'),
  };
}

describe.skipIf(!BROKERS)('the Lambda bundles’ Kafka client → the broker', () => {
  it('creates the topics and publishes batches the broker accepts and a consumer reads back intact', async () => {
    // GIVEN the client bundled as a Lambda bundle, outside the repository, with no WebAssembly and no ajv in it
    const { module: bundled, source } = await bundledKafka();
    expect(isInsideRepo(dir)).toBe(false);
    expect(source).not.toContain('WebAssembly');
    expect(source).not.toContain('ajv.js.org');
    const settings: KafkaSettings = kafkaSettings();
    await bundled.ensureTopics(settings);
    const consumer = await startConsumer();

    // WHEN it publishes 3 batches of 200 events of 10 runs, small and large payloads (several record batches)
    const runs: string[] = Array.from({ length: 10 }, () => randomUUID());
    const sent: OutgoingMessage[] = [];
    const publisher = bundled.kafkaPublisher(settings, { clientId: 'wflo-bundle-test' });
    let id = 0;
    for (let batch = 0; batch < 3; batch++) {
      const messages = Array.from({ length: 200 }, (_, i) =>
        relayMessage({
          id: ++id,
          eventId: randomUUID(),
          executionId: runs[i % runs.length]!,
          type: 'step.succeeded',
          createdAtMs: Date.now(),
          payloadJson: JSON.stringify({ n: id, text: 'x'.repeat(i % 7 === 0 ? 5_000 : 40) }),
        }),
      );
      await publisher.publish(messages);
      sent.push(...messages);
    }
    await publisher.close();
    const ours = () => consumer.received.filter((r) => runs.includes(r.message.executionId));
    await waitFor(() => ours().length >= sent.length, `the ${sent.length} events published by the bundle`);
    const got = ours();
    await consumer.close();

    // THEN every event arrived once, on its topic, keyed by its run, with the value that was sent
    expect(got.length).toBe(sent.length);
    const byEventId = new Map(sent.map((m) => [m.headers['wflo-event-id'], m]));
    for (const r of got) {
      const m = byEventId.get(r.message.eventId);
      expect(m, r.message.eventId).toBeDefined();
      expect(r.topic).toBe(EXECUTION_EVENTS_TOPIC);
      expect(r.key).toBe(m!.key);
      expect(JSON.stringify(r.message)).toBe(m!.value);
    }
  });
});
