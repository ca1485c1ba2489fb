import { Admin } from '@platformatic/kafka';
import { TOPICS } from './kafka.ts';
import { clientOptions, type KafkaSettings } from './kafka-client.ts';

/*
 * The Kafka admin side, apart from the producer (kafka-client.ts): the relay Lambda loads the producer only,
 * and its bundle then carries none of the admin client.
 */

/**
 * Creates the project's topics where they are missing (the local relay at start, the custom resource on
 * AWS). Returns the topics it created. `replicas` is 1 for a single local broker; MSK Serverless sets its own
 * (pass -1: the broker default).
 */
export async function ensureTopics(kafka: KafkaSettings, replicas = 1): Promise<string[]> {
  const admin = new Admin(clientOptions(kafka, 'wflo-topics'));
  try {
    const existing = new Set(await admin.listTopics());
    const created: string[] = [];
    for (const t of TOPICS) {
      if (existing.has(t.name)) continue;
      try {
        await admin.createTopics({ topics: [t.name], partitions: t.partitions, replicas });
        created.push(t.name);
      } catch (error) {
        // Another relay created it between the listing and here: what we wanted.
        if (!/already exists/i.test(String((error as Error).message) + JSON.stringify(error))) throw error;
      }
    }
    return created;
  } finally {
    await admin.close();
  }
}
