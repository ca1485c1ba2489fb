import { createServer } from 'node:http';
import { ScriptedProtocolServer, type ServerRequest, type ServerResponse } from './protocol-server.ts';

export interface RecordedRequest {
  readonly path: string;
  readonly headers: ServerRequest['headers'];
  readonly body: {
    model: string;
    messages: { role: string; content: string }[];
    max_tokens?: number;
    temperature?: number;
  };
}

/**
 * What the server answers next: a chat completion (`usage: null` leaves the usage object out), an HTTP
 * error with optional extra headers (e.g. `Retry-After`), or a raw body; or a fault (see the base).
 */
export type Reply =
  | {
      kind: 'completion';
      content: string;
      finishReason?: string;
      usage?: { prompt: number; completion: number; cached?: number } | null;
    }
  | { kind: 'status'; status: number; body?: string; headers?: Record<string, string> }
  | { kind: 'raw'; body: string };

const JSON_TYPE = { 'content-type': 'application/json' };

/** The OpenAI Chat Completions protocol (`POST /v1/chat/completions`) on loopback; `url` ends in `/v1`. */
export class OpenAiProtocolServer extends ScriptedProtocolServer<RecordedRequest, Reply> {
  fallback = (req: RecordedRequest): Reply => ({
    kind: 'completion',
    content: `echo: ${req.body.messages.at(-1)?.content ?? ''}`,
    usage: { prompt: 100, completion: 20 },
  });

  protected createServer(handler: (req: ServerRequest, res: ServerResponse) => void) {
    return createServer(handler);
  }

  protected override baseUrl(port: number): string {
    return `http://127.0.0.1:${port}/v1`;
  }

  protected read(req: ServerRequest, body: Buffer): RecordedRequest | undefined {
    if (req.method !== 'POST' || req.url !== '/v1/chat/completions') return undefined;
    return {
      path: req.url,
      headers: req.headers,
      body: JSON.parse(body.toString('utf8')) as RecordedRequest['body'],
    };
  }

  protected notFound(res: ServerResponse): void {
    res.writeHead(404, JSON_TYPE);
    res.end('{"error":{"message":"not found"}}');
  }

  protected reply(res: ServerResponse, r: Reply, req: RecordedRequest): void {
    if (r.kind === 'status') {
      res.writeHead(r.status, { ...JSON_TYPE, ...r.headers });
      res.end(r.body ?? `{"error":{"message":"status ${r.status}"}}`);
      return;
    }
    res.writeHead(200, JSON_TYPE);
    if (r.kind === 'raw') {
      res.end(r.body);
      return;
    }
    const prompt = r.usage?.prompt ?? 10;
    const completion = r.usage?.completion ?? 5;
    res.end(
      JSON.stringify({
        id: `chatcmpl-${this.requests.length}`,
        object: 'chat.completion',
        model: req.body.model,
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: r.content },
            finish_reason: r.finishReason ?? 'stop',
          },
        ],
        ...(r.usage === null
          ? {}
          : {
              usage: {
                prompt_tokens: prompt,
                completion_tokens: completion,
                total_tokens: prompt + completion,
                prompt_tokens_details: { cached_tokens: r.usage?.cached ?? 0 },
              },
            }),
      }),
    );
  }
}
