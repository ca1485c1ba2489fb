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
  write(chunk: string, callback?: () => void): unknown;
  end(body: string): unknown;
  /** HTTP/1: the connection's socket. */
  readonly socket?: { destroy(): unknown } | null;
  /** HTTP/2: the request's stream, within its session (the connection). */
  readonly stream?: { destroy(): unknown; readonly session?: { destroy(): unknown } | undefined };
}

/** A listening node:http or node:http2 server. */
interface Listener {
  listen(port: number, host: string, callback: () => void): unknown;
  address(): AddressInfo | string | null;
  close(callback: () => void): unknown;
  closeAllConnections?: () => void;
}

/**
 * Faults every protocol server can script instead of a reply: `hang` waits `ms` before the fallback
 * answers (nothing is sent meanwhile); `stall` sends a 200's headers and the start of a JSON body, then
 * nothing more until the client gives up; `reset` sends the same start and then destroys the connection
 * (HTTP/1: the socket; HTTP/2: the session).
 */
export type Fault = { readonly kind: 'hang'; readonly ms: number } | { readonly kind: 'stall' | 'reset' };

/** The first bytes of a body that never completes. */
const PARTIAL_BODY = '{"id":"partial","choices":[';

/**
 * A small server speaking one model provider's protocol on loopback, for testing an adapter over real
 * HTTP rather than a mocked function. It records every request; replies come from `queue`, and when it is
 * empty, from `fallback`. Subclasses say how a request is read and how a reply is written.
 */
export abstract class ScriptedProtocolServer<Req, Reply extends { kind: string }> {
  readonly requests: Req[] = [];
  readonly queue: (Reply | Fault)[] = [];
  readonly #stalled = new Set<ServerResponse>();
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

  /** Forgets the recorded requests and the replies not yet given, and drops stalled replies. */
  reset(): void {
    this.requests.length = 0;
    this.queue.length = 0;
    for (const res of this.#stalled) destroyConnection(res);
    this.#stalled.clear();
  }

  async stop(): Promise<void> {
    const server = this.#server;
    for (const res of this.#stalled) destroyConnection(res);
    this.#stalled.clear();
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
    if (isFault(next)) this.#fault(next, res, () => send(this.fallback(recorded)));
    else send(next);
  }

  #fault(fault: Fault, res: ServerResponse, fallback: () => void): void {
    if (fault.kind === 'hang') {
      setTimeout(fallback, fault.ms);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    if (fault.kind === 'stall') {
      this.#stalled.add(res);
      res.write(PARTIAL_BODY);
    } else {
      // Destroy only once the partial body is on the wire, so the client fails mid-body, not before it.
      res.write(PARTIAL_BODY, () => setTimeout(() => destroyConnection(res), 10));
    }
  }
}

function isFault(reply: { kind: string }): reply is Fault {
  return reply.kind === 'hang' || reply.kind === 'stall' || reply.kind === 'reset';
}

/** Ends the connection under a response without a proper close: the client sees it reset mid-body. */
function destroyConnection(res: ServerResponse): void {
  if (res.stream) (res.stream.session ?? res.stream).destroy();
  else res.socket?.destroy();
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
