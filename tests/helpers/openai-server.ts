import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: {
    model: string;
    messages: { role: string; content: string }[];
    max_tokens?: number;
    temperature?: number;
  };
}

/** What the server answers next: a chat completion, an HTTP error, a raw body, or a delay then answer. */
export type Reply =
  | {
      kind: 'completion';
      content: string;
      finishReason?: string;
      usage?: { prompt: number; completion: number; cached?: number };
    }
  | { kind: 'status'; status: number; body?: string }
  | { kind: 'raw'; body: string }
  | { kind: 'hang'; ms: number };

/**
 * A small server speaking the OpenAI Chat Completions protocol on loopback, for testing the provider
 * adapter over real HTTP. Replies come from a queue; when it is empty, `fallback` answers.
 */
export class OpenAiProtocolServer {
  readonly requests: RecordedRequest[] = [];
  readonly queue: Reply[] = [];
  fallback: (req: RecordedRequest) => Reply = (req) => ({
    kind: 'completion',
    content: `echo: ${req.body.messages.at(-1)?.content ?? ''}`,
    usage: { prompt: 100, completion: 20 },
  });
  #server: Server | undefined;
  url = '';

  async start(): Promise<void> {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
          res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"message":"not found"}}');
          return;
        }
        const recorded: RecordedRequest = {
          path: req.url,
          headers: req.headers,
          body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as RecordedRequest['body'],
        };
        this.requests.push(recorded);
        const reply = this.queue.shift() ?? this.fallback(recorded);
        const send = (r: Reply) => {
          if (r.kind === 'status') {
            res
              .writeHead(r.status, { 'content-type': 'application/json' })
              .end(r.body ?? `{"error":{"message":"status ${r.status}"}}`);
          } else if (r.kind === 'raw') {
            res.writeHead(200, { 'content-type': 'application/json' }).end(r.body);
          } else if (r.kind === 'completion') {
            res.writeHead(200, { 'content-type': 'application/json' }).end(
              JSON.stringify({
                id: `chatcmpl-${this.requests.length}`,
                object: 'chat.completion',
                model: recorded.body.model,
                choices: [
                  {
                    index: 0,
                    message: { role: 'assistant', content: r.content },
                    finish_reason: r.finishReason ?? 'stop',
                  },
                ],
                usage: {
                  prompt_tokens: r.usage?.prompt ?? 10,
                  completion_tokens: r.usage?.completion ?? 5,
                  total_tokens: (r.usage?.prompt ?? 10) + (r.usage?.completion ?? 5),
                  prompt_tokens_details: { cached_tokens: r.usage?.cached ?? 0 },
                },
              }),
            );
          }
        };
        if (reply.kind === 'hang') setTimeout(() => send(this.fallback(recorded)), reply.ms);
        else send(reply);
      });
    });
    await new Promise<void>((resolve) => this.#server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server!.address() as AddressInfo).port}/v1`;
  }

  async stop(): Promise<void> {
    this.#server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
  }
}
