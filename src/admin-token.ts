// The compose stack's first-start admin token (`admin-token` service in docker-compose.yml): generates a
// random OSM_ONBOARDING_ADMIN_TOKEN into OSM_ONBOARDING_ADMIN_TOKEN_FILE (a volume shared with the API and the
// worker) and prints it once; later starts keep the file and say where it is. A token given in the
// environment wins and nothing is written.
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';

const fromEnv = process.env.OSM_ONBOARDING_ADMIN_TOKEN;
const file = process.env.OSM_ONBOARDING_ADMIN_TOKEN_FILE;

function existing(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim() || undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

if (fromEnv) {
  console.log('admin token: OSM_ONBOARDING_ADMIN_TOKEN is set in the environment; nothing generated');
} else if (!file) {
  console.error('admin token: set OSM_ONBOARDING_ADMIN_TOKEN, or OSM_ONBOARDING_ADMIN_TOKEN_FILE to generate one');
  process.exit(1);
} else if (existing(file)) {
  console.log(`admin token: kept from an earlier start in ${file} (print it: docker compose exec api cat ${file})`);
} else {
  const token = `osmo-admin-${randomBytes(24).toString('base64url')}`;
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  console.log(
    [
      'admin token generated (shown this once; kept in the admin-token volume):',
      '',
      `    ${token}`,
      '',
      `    export T='Authorization: Bearer ${token}'`,
      '',
    ].join('\n'),
  );
}
