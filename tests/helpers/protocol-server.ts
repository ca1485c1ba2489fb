import type { IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll } from 'vitest';

/** The parts of an HTTP/1 or HTTP/2 request the protocol servers read. */
export interface ServerRequest {
  readonly method?: string | undefined;
  readonly url?: string | undefined;
  readonly headers: IncomingHttpHeaders;
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
  on(event: 'end', listener: () => void): unknown;
}

/** The parts of an HTTP/1 or HTTP/2 response the protocol servers write. */
export interface ServerResponse {
  readonly closed?: boolean;
  readonly destroyed?: boolean;
  writeHead(status: number, headers?: Record<string, string>): unknown;
  end(body: string): unknown;
}

/** A listening node:http or node:http2 server. */
interface Listener {
  listen(port: number, host: string, callback: () => void): unknown;
  address(): AddressInfo | string | null;
  close(callback: () => void): unknown;
  closeAllConnections?: () => void;
}

/** Every scripted reply can instead be a delay, after which the fallback answers. */
export interface Hang {
  readonly kind: 'hang';
  readonly ms: number;
}

/**
 * A small server speaking one model provider's protocol on loopback, for testing an adapter over real
 * HTTP rather than a mocked function. It records every request; replies come from `queue`, and when it is
 * empty, from `fallback`. Subclasses say how a request is read and how a reply is written.
 */
export abstract class ScriptedProtocolServer<Req, Reply extends { kind: string }> {
  readonly requests: Req[] = [];
  readonly queue: (Reply | Hang)[] = [];
  abstract fallback: (req: Req) => Reply;
  url = '';
  #server: Listener | undefined;

  /** Creates the (not yet listening) server with the handler that serves each request. */
  protected abstract createServer(handler: (req: ServerRequest, res: ServerResponse) => void): Listener;
  /** The recorded request, or undefined when the method or path is not this protocol's (answered 404). */
  protected abstract read(req: ServerRequest, body: Buffer): Req | undefined;
  protected abstract notFound(res: ServerResponse): void;
  protected abstract reply(res: ServerResponse, reply: Reply, req: Req): void;
  /** Answers a request the real service would refuse before looking at it; true when it did. */
  protected refuse(_req: Req, _res: ServerResponse): boolean {
    return false;
  }
  /** The URL the adapter is given, from the port the server listens on. */
  protected baseUrl(port: number): string {
    return `http://127.0.0.1:${port}`;
  }

  async start(): Promise<void> {
    const server = this.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => this.#serve(req, res, Buffer.concat(chunks)));
    });
    this.#server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.url = this.baseUrl((server.address() as AddressInfo).port);
  }

  /** Forgets the recorded requests and the replies not yet given. */
  reset(): void {
    this.requests.length = 0;
    this.queue.length = 0;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    server?.closeAllConnections?.();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }

  #serve(req: ServerRequest, res: ServerResponse, body: Buffer): void {
    const recorded = this.read(req, body);
    if (recorded === undefined) {
      this.notFound(res);
      return;
    }
    this.requests.push(recorded);
    if (this.refuse(recorded, res)) return;
    const next = this.queue.shift() ?? this.fallback(recorded);
    const send = (r: Reply) => {
      if (!res.closed && !res.destroyed) this.reply(res, r, recorded);
    };
    if (next.kind === 'hang') setTimeout(() => send(this.fallback(recorded)), (next as Hang).ms);
    else send(next as Reply);
  }
}

/**
 * Serves a protocol server for the whole test file, starting empty for every test. Registered first,
 * its start runs before the file's own beforeAll and its stop after the file's own afterAll.
 */
export function serveDuringTests(
  server: Pick<ScriptedProtocolServer<never, never>, 'start' | 'reset' | 'stop'>,
): void {
  beforeAll(() => server.start());
  afterEach(() => server.reset());
  afterAll(() => server.stop());
}
