import 'reflect-metadata';
import { INestApplication, INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import helmet from 'helmet';
import { Logger } from 'nestjs-pino';
import { AppModule } from './app.module.js';
import type { AppConfig } from './config/config.js';
import { HttpExceptionFilter } from './common/http-exception.filter.js';
import { requireJsonBodies } from './common/json-content-type.js';
import { HttpDrain } from './reliability/shutdown.js';
import { httpContext } from './observability/http-context.js';
import { callerContext } from './auth/caller-context.js';
import { startTracing } from './observability/tracing.js';

const drains = new WeakMap<INestApplication, HttpDrain>();

/** The in-flight request counter of an app built by createApiApp (used by the SIGTERM drain in main.ts). */
export function httpDrainOf(app: INestApplication): HttpDrain {
  return drains.get(app)!;
}

/**
 * The HTTP app (API role, or API + worker with role "all"). Tests build it the same way.
 * Signals are handled by main.ts (readiness first, then the drain, then Nest's hooks), not by
 * Nest's enableShutdownHooks, which would close Postgres and Redis before in-flight requests end.
 */
export async function createApiApp(config: AppConfig): Promise<INestApplication> {
  await startTracing(config);
  const app = await NestFactory.create<NestExpressApplication>(await AppModule.forRole(config), {
    bufferLogs: true,
    bodyParser: false,
  });
  app.useLogger(app.get(Logger));
  const drain = new HttpDrain();
  drains.set(app, drain);
  app.use(drain.middleware());
  // GraphiQL needs its inline script, so CSP stays off; the other helmet headers apply.
  app.use(helmet({ contentSecurityPolicy: false, crossOriginEmbedderPolicy: false }));
  app.useBodyParser('json', { limit: '64kb' });
  app.use(httpContext());
  app.use(callerContext());
  app.use(requireJsonBodies());
  app.useGlobalFilters(new HttpExceptionFilter());
  return app;
}

/** The worker role: no HTTP server, only the queue consumer and the sweeper (signals: see worker.ts). */
export async function createWorkerContext(config: AppConfig): Promise<INestApplicationContext> {
  await startTracing(config);
  const ctx = await NestFactory.createApplicationContext(await AppModule.forRole({ ...config, role: 'worker' }), {
    bufferLogs: true,
  });
  ctx.useLogger(ctx.get(Logger));
  return ctx;
}
