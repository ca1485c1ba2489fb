import { createServer } from 'node:http2';
import { BedrockRuntimeClient } from '@aws-sdk/client-bedrock-runtime';
import { ScriptedProtocolServer, type ServerRequest, type ServerResponse } from './protocol-server.ts';

export interface RecordedConverseRequest {
  /** The model id from the path, decoded. */
  readonly modelId: string;
  readonly headers: ServerRequest['headers'];
  readonly body: Record<string, unknown>;
}

/**
 * What the server answers next: a Converse reply (`usage: null` leaves the usage object out), a modelled
 * exception with optional extra headers (e.g. `Retry-After`), or a raw body; or a fault (see the base).
 */
export type ConverseReply =
  | {
      kind: 'converse';
      text: string;
      stopReason?: string;
      usage?: { input: number; output: number; cacheRead?: number; cacheWrite?: number } | null;
    }
  | { kind: 'exception'; status: number; type: string; message?: string; headers?: Record<string, string> }
  | { kind: 'raw'; status: number; body: string };

/**
 * The Bedrock Runtime Converse REST-JSON protocol over cleartext HTTP/2 (the SDK's default transport) on
 * loopback: `POST /model/{modelId}/converse`, exceptions named by the `x-amzn-errortype` header as the
 * real service does.
 */
export class BedrockProtocolServer extends ScriptedProtocolServer<RecordedConverseRequest, ConverseReply> {
  fallback = (): ConverseReply => ({ kind: 'converse', text: 'ok', usage: { input: 10, output: 2 } });

  protected createServer(handler: (req: ServerRequest, res: ServerResponse) => void) {
    return createServer(handler);
  }

  protected read(req: ServerRequest, body: Buffer): RecordedConverseRequest | undefined {
    const match = /^\/model\/([^/]+)\/converse$/.exec(req.url ?? '');
    if (req.method !== 'POST' || !match) return undefined;
    return {
      modelId: decodeURIComponent(match[1]!),
      headers: req.headers,
      body: JSON.parse(body.toString('utf8')) as Record<string, unknown>,
    };
  }

  protected notFound(res: ServerResponse): void {
    res.writeHead(404, { 'x-amzn-errortype': 'UnknownOperationException' });
    res.end('{}');
  }

  protected reply(res: ServerResponse, r: ConverseReply): void {
    if (r.kind === 'exception') {
      res.writeHead(r.status, {
        'content-type': 'application/json',
        'x-amzn-errortype': `${r.type}:http://internal.amazon.com/coral/com.amazon.bedrock/`,
        'x-amzn-requestid': 'req-test',
        ...r.headers,
      });
      res.end(JSON.stringify({ message: r.message ?? r.type }));
    } else if (r.kind === 'raw') {
      res.writeHead(r.status, { 'content-type': 'text/html' });
      res.end(r.body);
    } else {
      const u = r.usage === null ? null : (r.usage ?? { input: 10, output: 2 });
      res.writeHead(200, { 'content-type': 'application/json', 'x-amzn-requestid': 'req-test' });
      res.end(
        JSON.stringify({
          output: { message: { role: 'assistant', content: [{ text: r.text }] } },
          stopReason: r.stopReason ?? 'end_turn',
          ...(u === null
            ? {}
            : {
                usage: {
                  inputTokens: u.input,
                  outputTokens: u.output,
                  totalTokens: u.input + u.output + (u.cacheRead ?? 0) + (u.cacheWrite ?? 0),
                  ...(u.cacheRead === undefined ? {} : { cacheReadInputTokens: u.cacheRead }),
                  ...(u.cacheWrite === undefined ? {} : { cacheWriteInputTokens: u.cacheWrite }),
                },
              }),
          metrics: { latencyMs: 5 },
        }),
      );
    }
  }

  /** A real SDK client aimed at this server, with static test credentials and no SDK retries. */
  client(): BedrockRuntimeClient {
    return new BedrockRuntimeClient({
      region: 'us-east-1',
      endpoint: this.url,
      credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret' },
      maxAttempts: 1,
    });
  }
}
