import { defineConfig } from 'prisma/config';

// `env('DATABASE_URL')` would fail `prisma generate` when the variable is unset.
export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? '' },
});
