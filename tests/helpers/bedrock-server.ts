import { createServer, type Http2Server, type IncomingHttpHeaders } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { BedrockRuntimeClient } from '@aws-sdk/client-bedrock-runtime';

export interface RecordedConverseRequest {
  /** The model id from the path, decoded. */
  readonly modelId: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Record<string, unknown>;
}

/** What the server answers next: a Converse reply, a modelled exception, a raw body, or a delay. */
export type ConverseReply =
  | {
      kind: 'converse';
      text: string;
      stopReason?: string;
      usage?: { input: number; output: number; cacheRead?: number; cacheWrite?: number };
    }
  | { kind: 'exception'; status: number; type: string; message?: string }
  | { kind: 'raw'; status: number; body: string }
  | { kind: 'hang'; ms: number };

/**
 * A small server speaking the Bedrock Runtime Converse REST-JSON protocol over cleartext HTTP/2 (the SDK's
 * default transport) on loopback: `POST /model/{modelId}/converse`, exceptions named by the
 * `x-amzn-errortype` header as the real service does. Replies come from a queue, then `fallback`.
 */
export class BedrockProtocolServer {
  readonly requests: RecordedConverseRequest[] = [];
  readonly queue: ConverseReply[] = [];
  fallback: () => ConverseReply = () => ({ kind: 'converse', text: 'ok', usage: { input: 10, output: 2 } });
  #server: Http2Server | undefined;
  url = '';

  async start(): Promise<void> {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const match = /^\/model\/([^/]+)\/converse$/.exec(req.url);
        if (req.method !== 'POST' || !match) {
          res.writeHead(404, { 'x-amzn-errortype': 'UnknownOperationException' });
          res.end('{}');
          return;
        }
        const recorded: RecordedConverseRequest = {
          modelId: decodeURIComponent(match[1]!),
          headers: req.headers,
          body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>,
        };
        this.requests.push(recorded);
        const send = (r: ConverseReply) => {
          if (res.closed || res.destroyed) return;
          if (r.kind === 'exception') {
            res.writeHead(r.status, {
              'content-type': 'application/json',
              'x-amzn-errortype': `${r.type}:http://internal.amazon.com/coral/com.amazon.bedrock/`,
              'x-amzn-requestid': 'req-test',
            });
            res.end(JSON.stringify({ message: r.message ?? r.type }));
          } else if (r.kind === 'raw') {
            res.writeHead(r.status, { 'content-type': 'text/html' });
            res.end(r.body);
          } else if (r.kind === 'converse') {
            const u = r.usage ?? { input: 10, output: 2 };
            res.writeHead(200, { 'content-type': 'application/json', 'x-amzn-requestid': 'req-test' });
            res.end(
              JSON.stringify({
                output: { message: { role: 'assistant', content: [{ text: r.text }] } },
                stopReason: r.stopReason ?? 'end_turn',
                usage: {
                  inputTokens: u.input,
                  outputTokens: u.output,
                  totalTokens: u.input + u.output + (u.cacheRead ?? 0) + (u.cacheWrite ?? 0),
                  ...(u.cacheRead === undefined ? {} : { cacheReadInputTokens: u.cacheRead }),
                  ...(u.cacheWrite === undefined ? {} : { cacheWriteInputTokens: u.cacheWrite }),
                },
                metrics: { latencyMs: 5 },
              }),
            );
          }
        };
        const reply = this.queue.shift() ?? this.fallback();
        if (reply.kind === 'hang') setTimeout(() => send(this.fallback()), reply.ms);
        else send(reply);
      });
    });
    await new Promise<void>((resolve) => this.#server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server!.address() as AddressInfo).port}`;
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

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
  }
}
