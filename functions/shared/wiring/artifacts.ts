import { S3Client } from '@aws-sdk/client-s3';
import { S3Artifacts } from '../adapters/s3-artifacts.ts';
import type { Config } from '../config.ts';
import { ConfigError } from '../errors.ts';
import type { ArtifactStore } from '../ports/artifacts.ts';
import { getConfig } from './config.ts';
import { lazyPart } from './lazy.ts';

/** The S3 artifact store of a Lambda (ARTIFACTS_BUCKET); nothing is sent until it is used. */
export function createS3Artifacts(config: Config): ArtifactStore {
  if (config.artifacts.kind !== 's3') {
    throw new ConfigError('a Lambda keeps sandbox artifacts in S3: ARTIFACTS_BUCKET is not set');
  }
  return new S3Artifacts({ client: new S3Client({}), bucket: config.artifacts.bucket });
}

/** The process's artifact store: S3 on Lambda (or the installed runtime's). */
export const getArtifacts: () => Promise<ArtifactStore> = lazyPart(
  (rt) => rt.artifacts,
  async () => createS3Artifacts(await getConfig()),
);
