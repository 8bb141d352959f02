import 'reflect-metadata';
import { INestApplication, INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Logger } from 'nestjs-pino';
import { AppModule } from './app.module.js';
import type { AppConfig } from './config/config.js';
import { HttpExceptionFilter } from './common/http-exception.filter.js';
import { StorablePathParams } from './common/storable-path-params.pipe.js';
import { HttpDrain } from './reliability/shutdown.js';
import { createHttpApp } from './http/platform.js';
import { startTracing } from './observability/tracing.js';

const drains = new WeakMap<INestApplication, HttpDrain>();

/** The in-flight request counter of an app built by createApiApp (used by the SIGTERM drain in api-process.ts). */
export function httpDrainOf(app: INestApplication): HttpDrain {
  return drains.get(app)!;
}

/**
 * The HTTP app (API role, or API + worker with role "all"). Tests build it the same way.
 * Signals are handled by api-process.ts (readiness first, then the drain, then Nest's hooks), not by
 * Nest's enableShutdownHooks, which would close Postgres and Redis before in-flight requests end.
 */
export async function createApiApp(config: AppConfig): Promise<INestApplication> {
  await startTracing(config);
  // The platform (HTTP_PLATFORM) and the edge every call crosses: src/http/platform.ts.
  const drain = new HttpDrain();
  const app = await createHttpApp(await AppModule.forRole(config), { config, drain });
  app.useLogger(app.get(Logger));
  drains.set(app, drain);
  app.useGlobalFilters(new HttpExceptionFilter());
  app.useGlobalPipes(new StorablePathParams());
  return app;
}

/** The worker role: no HTTP server, only the queue consumer and the sweeper (signals: see worker-process.ts). */
export async function createWorkerContext(config: AppConfig): Promise<INestApplicationContext> {
  await startTracing(config);
  const ctx = await NestFactory.createApplicationContext(await AppModule.forRole({ ...config, role: 'worker' }), {
    bufferLogs: true,
  });
  ctx.useLogger(ctx.get(Logger));
  return ctx;
}
