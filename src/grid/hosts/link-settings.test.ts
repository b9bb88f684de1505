import test from 'ava';
import {
  LinkSettingsError,
  addedRoundTripMs,
  chunkDelay,
  parseLinkSpec,
  releaseTime,
  validateLinkSettings,
} from './link-settings.js';
import { addressPlan, freeNetwork, ownerPid, runPrefix } from './names.js';

test('link settings: valid values pass, every bad one is refused with what to write', (t) => {
  t.deepEqual(validateLinkSettings({ delayMs: 5, jitterMs: 1, drop: 0.1, stall: false }), {
    delayMs: 5,
    jitterMs: 1,
    drop: 0.1,
    stall: false,
  });
  const bad: Array<[unknown, RegExp]> = [
    [{ delayMs: -1 }, /delayMs must be a number of milliseconds/],
    [{ jitterMs: 'x' }, /jitterMs must be/],
    [{ drop: 1 }, /drop must be a probability/],
    [{ stall: 'yes' }, /stall must be true or false/],
    [{ latency: 3 }, /unknown setting "latency"/],
    [[], /expected an object/],
  ];
  for (const [value, message] of bad) {
    const err = t.throws(() => validateLinkSettings(value), { instanceOf: LinkSettingsError });
    t.is(err?.code, 'ERR_LINK_SETTINGS');
    t.regex(err!.message, message);
  }
});

test('link spec: the command-line form', (t) => {
  t.deepEqual(parseLinkSpec('delay=5,jitter=2,drop=0.01'), { delayMs: 5, jitterMs: 2, drop: 0.01 });
  t.deepEqual(parseLinkSpec('up=1,down=20,stall'), { upMs: 1, downMs: 20, stall: true });
  t.deepEqual(parseLinkSpec(''), {});
  t.throws(() => parseLinkSpec('delay='), { message: /delayMs must be/ });
  t.throws(() => parseLinkSpec('rtt=5'), { message: /unknown setting "rtt"/ });
});

test('chunk delays: per direction, jitter around the delay, losses add a backing-off RTO', (t) => {
  const link = { delayMs: 10, downMs: 30 };
  t.is(addedRoundTripMs(link), 40);
  t.is(
    chunkDelay(link, 'up', () => 0.5),
    10,
  );
  t.is(
    chunkDelay(link, 'down', () => 0.5),
    30,
  );
  t.is(
    chunkDelay({ delayMs: 10, jitterMs: 4 }, 'up', () => 0),
    6,
  );
  t.is(
    chunkDelay({ delayMs: 1, jitterMs: 4 }, 'up', () => 0),
    0,
  );
  // Lost twice, then through: 200 ms + 400 ms on top of the delay.
  const draws = [0.01, 0.01, 0.9];
  t.is(
    chunkDelay({ delayMs: 10, drop: 0.5 }, 'up', () => draws.shift()!),
    610,
  );
  // Bytes keep their order: a later chunk never leaves before an earlier one.
  t.is(releaseTime(1000, 1, 1050), 1050);
  t.is(releaseTime(1000, 80, 1050), 1080);
});

test('names: a run prefix names its owner; addresses per server and client', (t) => {
  const prefix = runPrefix(4242, 'ab12cd');
  t.is(ownerPid(`${prefix}s3`), 4242);
  t.is(ownerPid('sfh-probe'), undefined);
  t.is(ownerPid('someone-else'), undefined);
  const plan = addressPlan('10.77.0');
  t.is(plan.server(0), '10.77.0.1');
  t.is(plan.client, '10.77.0.250');
  t.throws(() => plan.server(200), { instanceOf: RangeError });
  t.is(freeNetwork('inet 10.100.0.5/24\n10.100.1.0/24 dev x', 0), '10.100.2');
});
