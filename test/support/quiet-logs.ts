import { Logger } from '@nestjs/common';

// Components a test builds by hand (a ClusterGateway, a RedisService) log through Nest's default
// console logger, which prints every level; apps built by the harness use pino at LOG_LEVEL.
Logger.overrideLogger(['error']);
