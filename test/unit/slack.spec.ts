// Slack's pure parts: the request signature against Slack's own documented example, the stale window,
// SLACK_USER_MAP parsing, and the Block Kit message (escaping, buttons only while approval is pending).
import { describe, expect, it } from 'vitest';
import { loadConfig, ConfigError } from '../../src/config/config.js';
import { DomainError } from '../../src/common/domain-error.js';
import {
  checkSlackHeaders,
  slackSignature,
  verifySlackSignature,
} from '../../src/integrations/slack/slack-signature.js';
import { escapeMrkdwn, slackMessage, SlackMessageRequest } from '../../src/integrations/slack/slack-message.js';

const codeOf = (fn: () => unknown) => {
  try {
    fn();
    return null;
  } catch (err) {
    return (err as DomainError).code;
  }
};

describe('Slack request signatures', () => {
  // The worked example of Slack's "Verifying requests from Slack" page.
  const secret = '8f742231b10e8888abcd99yyyzzz85a5';
  const timestamp = '1531420618';
  const body = Buffer.from(
    'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V' +
      '&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=' +
      '&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN' +
      '&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c',
  );
  const documented = 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503';

  it("computes Slack's documented signature and accepts it", () => {
    expect(slackSignature(secret, timestamp, body)).toBe(documented);
    expect(codeOf(() => verifySlackSignature(secret, timestamp, documented, body))).toBeNull();
  });

  it('refuses another secret, body or timestamp, and malformed signatures', () => {
    const verify = (s: string, ts: string, sig: string, b: Buffer) => codeOf(() => verifySlackSignature(s, ts, sig, b));
    expect(verify(`${secret}x`, timestamp, documented, body)).toBe('SLACK_SIGNATURE_INVALID');
    const longer = Buffer.concat([body, Buffer.from('&x=1')]);
    expect(verify(secret, timestamp, documented, longer)).toBe('SLACK_SIGNATURE_INVALID');
    expect(verify(secret, '1531420619', documented, body)).toBe('SLACK_SIGNATURE_INVALID');
    for (const bad of ['', 'v0=', documented.toUpperCase(), documented.slice(0, -2), `v1=${documented.slice(3)}`]) {
      expect(
        codeOf(() => verifySlackSignature(secret, timestamp, bad, body)),
        bad,
      ).toBe('SLACK_SIGNATURE_INVALID');
    }
  });

  it('needs both headers and a timestamp within 5 minutes either way', () => {
    const now = 1_531_420_618;
    const both = { timestamp, signature: documented };
    expect(codeOf(() => checkSlackHeaders({ timestamp }, now))).toBe('SLACK_SIGNATURE_MISSING');
    expect(codeOf(() => checkSlackHeaders({ signature: documented }, now))).toBe('SLACK_SIGNATURE_MISSING');
    expect(checkSlackHeaders(both, now + 300)).toEqual(both);
    expect(checkSlackHeaders(both, now - 300)).toEqual(both);
    expect(codeOf(() => checkSlackHeaders(both, now + 301))).toBe('SLACK_REQUEST_STALE');
    expect(codeOf(() => checkSlackHeaders(both, now - 301))).toBe('SLACK_REQUEST_STALE');
    expect(codeOf(() => checkSlackHeaders({ ...both, timestamp: '1e9' }, now))).toBe('SLACK_REQUEST_STALE');
  });
});

describe('Slack settings', () => {
  it('parses SLACK_USER_MAP in both forms, PUBLIC_BASE_URL without its trailing slash', () => {
    const bob = { id: 'oidc:bob', roles: ['approver'], scopes: ['prod/*', 'prod/mesh:osm'] };
    const users = { U0A: 'token:alice', W0B: bob };
    const c = loadConfig({
      SLACK_SIGNING_SECRET: 's'.repeat(32),
      SLACK_USER_MAP: JSON.stringify(users),
      PUBLIC_BASE_URL: 'https://osm.example.com/',
    });
    expect(c.slack).toEqual({ signingSecret: 's'.repeat(32), users });
    expect(c.publicBaseUrl).toBe('https://osm.example.com');
    expect(loadConfig({}).slack).toEqual({ signingSecret: undefined, users: {} });
  });

  it('refuses bad values naming the key, never echoing the secret', () => {
    const keys = (env: Record<string, string>) => {
      try {
        loadConfig(env);
        return [];
      } catch (err) {
        return (err as ConfigError).issues.map((i) => i.key);
      }
    };
    expect(keys({ SLACK_USER_MAP: 'not json' })).toEqual(['SLACK_USER_MAP']);
    expect(keys({ SLACK_USER_MAP: '{"alice":"token:alice"}' })).toEqual(['SLACK_USER_MAP']); // not a Slack id
    expect(keys({ SLACK_USER_MAP: '{"U0A":"alice"}' })).toEqual(['SLACK_USER_MAP']);
    expect(keys({ SLACK_USER_MAP: '{"U0A":{"id":"slack:U0A","roles":["approver"]}}' })).toEqual(['SLACK_USER_MAP']);
    expect(keys({ SLACK_USER_MAP: '{"U0A":{"id":"oidc:a","roles":["root"]}}' })).toEqual(['SLACK_USER_MAP']);
    expect(keys({ PUBLIC_BASE_URL: 'ftp://x' })).toEqual(['PUBLIC_BASE_URL']);
    try {
      loadConfig({ SLACK_SIGNING_SECRET: 'short-secret' });
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).toContain('SLACK_SIGNING_SECRET');
      expect((err as Error).message).not.toContain('short-secret');
    }
  });
});

describe('Slack messages', () => {
  const request: SlackMessageRequest = {
    id: '00000000-0000-4000-8000-000000000001',
    kind: 'OFFBOARD',
    cluster: 'prod',
    namespace: 'team-a',
    meshName: 'osm',
    status: 'REJECTED',
    approvalsRequired: 1,
    approvalsGiven: 0,
    steps: [{ name: 'namespace-removal', status: 'CANCELLED', result: null }],
  };

  it('escapes mrkdwn, so a reason cannot ping a channel or hide a link', () => {
    expect(escapeMrkdwn('<!channel> & <https://evil|ok>')).toBe('&lt;!channel&gt; &amp; &lt;https://evil|ok&gt;');
    const msg = slackMessage(request, '⛔ rejected by token:bob: <!here> go');
    expect(msg.text).toBe('⛔ rejected by token:bob: &lt;!here&gt; go');
    expect(JSON.stringify(msg)).not.toContain('<!here>');
  });

  it('has buttons only while the request waits for approval, and a link only with PUBLIC_BASE_URL', () => {
    const done = slackMessage(request, 'x');
    expect(done.blocks.map((b) => b.type)).toEqual(['section', 'section', 'section', 'context']);
    expect(JSON.stringify(done.blocks[3])).toContain(`Offboarding request \`${request.id}\``);
    const pending = slackMessage({ ...request, status: 'PENDING_APPROVAL' }, 'x', 'https://osm.example.com');
    expect(pending.blocks.at(-1)).toMatchObject({
      type: 'actions',
      elements: [
        { action_id: 'osm-onboarding.approve', value: request.id },
        { action_id: 'osm-onboarding.reject', value: request.id },
      ],
    });
    expect(JSON.stringify(pending)).toContain(`<https://osm.example.com/v1/onboardings/${request.id}|`);
  });
});
