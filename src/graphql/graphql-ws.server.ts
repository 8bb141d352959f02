// Owns GraphQL over WebSocket (graphql-ws on /graphql) with the protections of GraphQL over HTTP:
// a 64 KB message limit (a larger frame is refused from its header, before it is read), a
// connection_init deadline, an address over its failed-authentication budget refused at the HTTP
// upgrade (429), and for every operation: the credential checked again (revoked or expired: the
// operation is refused and the socket closed with 4401), the caller's rate limit, the same document
// bounds (nesting, tokens, validation errors) and the same validation rules (depth, cost, aliases,
// introspection). A revocation closes open sockets at once.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { GraphQLSchemaHost } from '@nestjs/graphql';
import type { ExecutionArgs, ExecutionResult, FormattedExecutionResult, GraphQLError, GraphQLSchema } from 'graphql';
import { CloseCode, type Context, type SubscribePayload } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer, type WebSocket } from 'ws';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/config.js';
import { formatGraphQLError } from '../common/graphql-errors.js';
import { ROUTE_NOT_FOUND_HINT } from '../common/http-exception.filter.js';
import { toDomainError } from '../common/to-domain-error.js';
import type { Actor } from '../auth/actor.js';
import { Authenticator } from '../auth/authenticator.js';
import { AuthFailureLimiter } from '../auth/auth-failure-limiter.js';
import { runAsCaller } from '../auth/caller-context.js';
import { AddressOf, clientAddressResolver } from '../auth/client-address.js';
import { RateLimitService } from '../auth/rate-limit.service.js';
import { SessionRegistry } from '../auth/sessions.js';
import { parseDocument, VALIDATION_OPTIONS } from './document-limits.js';
import { edgeError, withCode } from './graphql-errors-edge.js';
import { graphqlJs } from './graphql-js.js';
import { graphqlValidationRules } from './validation-rules.js';
import type { Server as HttpServer } from 'node:http';

export const WS_PATH = '/graphql';
/** The same bound as an HTTP body; a subscription message is a few hundred bytes. */
export const WS_MAX_PAYLOAD = 64 * 1024;
/** The credential ended while the socket was open (revoked, expired). graphql-ws's "Unauthorized". */
export const CLOSE_CREDENTIAL_ENDED = CloseCode.Unauthorized;
/** Too many failed authentications from this address. */
export const CLOSE_RATE_LIMITED = 4429;

interface Extra {
  socket: WebSocket;
  request: IncomingMessage;
  /** The handshake's Authorization value, kept to re-check the credential for every operation. */
  authorization?: unknown;
  unwatch?: () => void;
  [key: PropertyKey]: unknown;
}

type WsContext = Context<Record<string, unknown> | undefined, Extra>;

@Injectable()
export class GraphQLWsServer implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(GraphQLWsServer.name);
  private readonly addressOf: AddressOf;
  private wss?: WebSocketServer;
  private dispose?: () => Promise<void>;
  private onUpgrade?: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly schemaHost: GraphQLSchemaHost,
    private readonly auth: Authenticator,
    private readonly failures: AuthFailureLimiter,
    private readonly rateLimit: RateLimitService,
    private readonly sessions: SessionRegistry,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.addressOf = clientAddressResolver(config.auth.trustProxy);
  }

  onApplicationBootstrap(): void {
    const server = this.adapterHost.httpAdapter?.getHttpServer() as HttpServer | undefined;
    if (!server) return;
    const schema = this.schemaHost.schema;
    const rules = [
      ...graphqlJs.specifiedRules,
      ...graphqlValidationRules(this.config.graphql, { introspection: true }),
    ];
    const wss = new WebSocketServer({ noServer: true, maxPayload: WS_MAX_PAYLOAD });
    this.wss = wss;
    const disposable = useServer<Record<string, unknown> | undefined, Extra>(
      {
        schema,
        connectionInitWaitTimeout: this.config.graphql.wsInitTimeoutMs,
        // The operation runs as its caller, for code that tells admins more (see caller-context.ts).
        execute: (args: ExecutionArgs) => runAsCaller(actorOf(args), () => graphqlJs.execute(args)),
        subscribe: (args: ExecutionArgs) => runAsCaller(actorOf(args), () => graphqlJs.subscribe(args)),
        onConnect: (ctx) => this.connect(ctx),
        onSubscribe: (ctx, _id, payload) => this.admit(ctx, payload, schema, rules),
        onClose: (ctx) => ctx.extra.unwatch?.(),
        // Errors get the same codes as over HTTP.
        onError: (_ctx, _id, _payload, errors) => errors.map((e) => formatGraphQLError(e.toJSON(), e)),
        // graphql-ws 6 calls onNext(ctx, id, payload, args, result): the result to format is the library's fifth
        // positional argument (its OnNext type), so this callback cannot take an options object.
        // eslint-disable-next-line no-restricted-syntax -- the signature is graphql-ws's ServerOptions['onNext']
        onNext: (_ctx, _id, _payload, _args, result: ExecutionResult): FormattedExecutionResult | undefined =>
          result.errors?.length
            ? { data: result.data, errors: result.errors.map((e) => formatGraphQLError(e.toJSON(), e)) }
            : undefined,
      },
      wss,
    );
    // graphql-ws prints every socket error with console.error; an oversized message (ws closes it
    // with 1009 itself) or a reset is the client's doing, not ours: one debug line, and no log flood.
    wss.on('connection', (socket: WebSocket) => {
      socket.removeAllListeners('error');
      socket.on('error', (err) => this.logger.debug(`graphql-ws socket: ${err.message}`));
    });
    this.dispose = async () => {
      await disposable.dispose();
    };
    this.onUpgrade = (req, socket, head) => this.upgrade(req, socket, head);
    server.on('upgrade', this.onUpgrade);
  }

  async onModuleDestroy(): Promise<void> {
    const server = this.adapterHost.httpAdapter?.getHttpServer() as HttpServer | undefined;
    if (this.onUpgrade) server?.off('upgrade', this.onUpgrade);
    await this.dispose?.().catch(() => undefined);
  }

  /** Before the WebSocket exists: the path, and an address over its failed-authentication budget. */
  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // Node no longer refuses an HTTP/1.1 request without a Host header itself (http/platform.ts): neither may this.
    if (req.httpVersion === '1.1' && req.headers.host === undefined) {
      const message = 'malformed request: an HTTP/1.1 request needs a Host header';
      return refuseUpgrade(socket, 400, { code: 'MALFORMED_REQUEST', message });
    }
    const path = (req.url ?? '/').split('?')[0];
    if (path !== WS_PATH || !this.wss) {
      // As the HTTP edge answers a GET of a path no route has (http-exception.filter.ts).
      const message = `no route ${req.method ?? 'GET'} ${req.url ?? '/'}`;
      return refuseUpgrade(socket, 404, { code: 'ROUTE_NOT_FOUND', message, hint: ROUTE_NOT_FOUND_HINT });
    }
    const seconds = this.failures.blockedFor(this.addressOf(req));
    if (seconds > 0) {
      const message = `too many failed authentications from this address; retry in ${seconds}s`;
      return refuseUpgrade(
        socket,
        429,
        { code: 'RATE_LIMITED', message, details: { retryAfterSeconds: seconds } },
        seconds,
      );
    }
    const wss = this.wss;
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  }

  /** connection_init: `{ authorization: 'Bearer …' }`. Refused: 4403, or 4429 for an address over its budget. */
  private async connect(ctx: WsContext): Promise<boolean> {
    const params = ctx.connectionParams ?? {};
    const authorization = params.authorization ?? params.Authorization;
    try {
      const { credential } = await this.auth.authenticate(authorization, this.addressOf(ctx.extra.request));
      ctx.extra.authorization = authorization;
      ctx.extra.unwatch = this.sessions.watch(credential, (reason) =>
        ctx.extra.socket.close(CLOSE_CREDENTIAL_ENDED, `Unauthorized: the credential was ${reason}`),
      );
      return true;
    } catch (err) {
      const e = toDomainError(err);
      if (e.code === 'RATE_LIMITED') ctx.extra.socket.close(CLOSE_RATE_LIMITED, 'Too many failed authentications');
      else if (e.code === 'DEPENDENCY_UNAVAILABLE')
        ctx.extra.socket.close(CloseCode.InternalServerError, 'Try again later');
      return false;
    }
  }

  /** Every operation: the credential as it stands now, the caller's rate limit, the validation rules. */
  private async admit(
    ctx: WsContext,
    payload: SubscribePayload,
    schema: GraphQLSchema,
    rules: ReturnType<typeof graphqlValidationRules>,
  ): Promise<ExecutionArgs | GraphQLError[]> {
    let actor: Actor;
    try {
      ({ actor } = await this.auth.authenticate(ctx.extra.authorization));
    } catch (err) {
      const e = toDomainError(err);
      if (e.code === 'UNAUTHENTICATED' || e.code === 'INVALID_TOKEN_CLAIMS') {
        // After the error message has gone out (graphql-ws sends it when this returns).
        setImmediate(() =>
          ctx.extra.socket.close(CLOSE_CREDENTIAL_ENDED, 'Unauthorized: the credential is no longer valid'),
        );
      }
      return [edgeError(e)];
    }
    try {
      await this.rateLimit.consume(actor);
    } catch (err) {
      return [edgeError(err)];
    }
    // The bounds of GraphQL over HTTP (document-limits.ts): nesting and tokens before parsing, errors validating.
    const document = parseDocument(payload.query);
    if (Array.isArray(document)) return document;
    const errors = graphqlJs.validate(schema, document, rules, VALIDATION_OPTIONS);
    if (errors.length > 0) return withCode(errors, 'GRAPHQL_VALIDATION_FAILED');
    return {
      schema,
      document,
      operationName: payload.operationName,
      variableValues: payload.variables,
      contextValue: { req: { headers: {}, actor } },
    };
  }
}

function actorOf(args: ExecutionArgs): Actor | undefined {
  return (args.contextValue as { req?: { actor?: Actor } } | undefined)?.req?.actor;
}

function refuseUpgrade(socket: Duplex, status: number, error: Record<string, unknown>, retryAfter?: number): void {
  const body = JSON.stringify({ error });
  const reason = { 400: 'Bad Request', 429: 'Too Many Requests' }[status] ?? 'Not Found';
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
      (retryAfter ? `Retry-After: ${retryAfter}\r\n` : '') +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
