import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedMessagesRequest {
  readonly method: string | undefined;
  readonly path: string | undefined;
  readonly headers: IncomingMessage['headers'];
  readonly body: {
    model: string;
    max_tokens: number;
    system?: string;
    messages: { role: string; content: string }[];
    temperature?: number;
  };
}

/** What the server answers next: a message, an HTTP error, a raw body, or a delay then the fallback. */
export type MessagesReply =
  | {
      kind: 'message';
      /** One text block per entry; `null` inserts a non-text (thinking) block the adapter must skip. */
      blocks: (string | null)[];
      stopReason?: string;
      usage?: { input: number; output: number; cacheRead?: number; cacheCreation?: number };
      model?: string;
    }
  | { kind: 'status'; status: number; body?: string }
  | { kind: 'raw'; body: string }
  | { kind: 'hang'; ms: number };

function anthropicError(status: number): string {
  const type =
    status === 429
      ? 'rate_limit_error'
      : status === 529
        ? 'overloaded_error'
        : status >= 500
          ? 'api_error'
          : 'invalid_request_error';
  return JSON.stringify({ type: 'error', error: { type, message: `status ${status}` } });
}

/**
 * A small server speaking the Anthropic Messages protocol on loopback, for testing the adapter over real
 * HTTP. Like the real API it rejects requests without `anthropic-version` (400) or `x-api-key` (401).
 * Replies come from a queue; when it is empty, `fallback` answers.
 */
export class AnthropicProtocolServer {
  readonly requests: RecordedMessagesRequest[] = [];
  readonly queue: MessagesReply[] = [];
  fallback: (req: RecordedMessagesRequest) => MessagesReply = (req) => ({
    kind: 'message',
    blocks: [`echo: ${req.body.messages.at(-1)?.content ?? ''}`],
    usage: { input: 100, output: 20 },
  });
  #server: Server | undefined;
  /** Base URL without `/v1`, as the adapter takes it. */
  url = '';

  async start(): Promise<void> {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const json = (status: number, body: string) =>
          res.writeHead(status, { 'content-type': 'application/json', 'request-id': 'req_test' }).end(body);
        if (req.method !== 'POST' || req.url !== '/v1/messages') {
          json(
            404,
            JSON.stringify({ type: 'error', error: { type: 'not_found_error', message: 'not found' } }),
          );
          return;
        }
        const recorded: RecordedMessagesRequest = {
          method: req.method,
          path: req.url,
          headers: req.headers,
          body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as RecordedMessagesRequest['body'],
        };
        this.requests.push(recorded);
        if (!req.headers['anthropic-version']) {
          json(400, anthropicError(400));
          return;
        }
        if (!req.headers['x-api-key']) {
          json(
            401,
            JSON.stringify({
              type: 'error',
              error: { type: 'authentication_error', message: 'x-api-key header is required' },
            }),
          );
          return;
        }
        const reply = this.queue.shift() ?? this.fallback(recorded);
        const send = (r: MessagesReply) => {
          if (r.kind === 'status') json(r.status, r.body ?? anthropicError(r.status));
          else if (r.kind === 'raw') json(200, r.body);
          else if (r.kind === 'message') {
            json(
              200,
              JSON.stringify({
                id: `msg_${this.requests.length}`,
                type: 'message',
                role: 'assistant',
                model: r.model ?? recorded.body.model,
                content: r.blocks.map((text) =>
                  text === null
                    ? { type: 'thinking', thinking: 'hmm', signature: 'sig' }
                    : { type: 'text', text },
                ),
                stop_reason: r.stopReason ?? 'end_turn',
                stop_sequence: null,
                usage: {
                  input_tokens: r.usage?.input ?? 10,
                  output_tokens: r.usage?.output ?? 5,
                  cache_read_input_tokens: r.usage?.cacheRead ?? 0,
                  cache_creation_input_tokens: r.usage?.cacheCreation ?? 0,
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
    this.url = `http://127.0.0.1:${(this.#server!.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.#server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
  }
}
