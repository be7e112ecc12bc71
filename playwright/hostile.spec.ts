// One hostile peer among honest tabs (DESIGN.md 10): two Chromium tabs train the default room
// (DLion, mlp on MNIST) while a Node peer in this process (mesh/adversary.ts, over real WebRTC
// and the real signaling server) sends in-bound updates of a large norm, ten copies a step,
// always the same direction ("scaled"). The tabs refuse the copies, bound the rest (each
// update and the sender's average), and train past 85% all the same.

import { startAdversary } from '../mesh';
import { nodeClock, nodeRtcConnector, nodeSignaling } from '../mesh/node';
import { modelSpec } from '../worker/model';
import { expect, test } from './fixtures';
import { allTraining, newRoom } from './mesh-helpers';
import { numberField } from './page-fields';

const ACCURACY = 0.85;

test('two tabs train past 85% while a hostile Node peer runs scaled', async ({
  peers,
  meshServer,
}) => {
  test.setTimeout(360_000);
  const room = newRoom('hostile');
  const pages = await peers(2);
  await Promise.all(
    pages.map((p, i) => p.goto(`${meshServer.url}/?room=${room}&name=p${i + 1}&backend=cpu`)),
  );
  await allTraining(pages);

  const clock = nodeClock();
  const spec = modelSpec('mlp');
  const adversary = startAdversary({
    signaling: nodeSignaling(meshServer.url, clock),
    room,
    kind: 'scaled',
    rtc: nodeRtcConnector(),
    clock,
    paramCount: spec.paramCount,
    modelFingerprint: spec.fingerprint,
    everyMs: 100,
  });
  try {
    await expect
      .poll(() => adversary.linked(), {
        message: 'the adversary linked to both tabs',
        timeout: 60_000,
      })
      .toBe(2);
    for (const [i, page] of pages.entries()) {
      // The copies are refused and the rest bounded: the dashboard counts both kinds.
      await expect(page.getByTestId('refusals'), `p${i + 1} counts the attack`).toContainText(
        'duplicate-update',
        { timeout: 60_000 },
      );
      await expect(page.getByTestId('refusals')).toContainText('clipped-update');
    }
    for (const [i, page] of pages.entries()) {
      await expect
        .poll(() => numberField(page, 'val-accuracy'), {
          message: `p${i + 1}'s validation accuracy passes ${ACCURACY} under attack`,
          timeout: 240_000,
          intervals: [2000],
        })
        .toBeGreaterThan(ACCURACY);
    }
    // The attack went on the whole time: the adversary was still linked and sending.
    expect(adversary.linked()).toBe(2);
    expect(adversary.sent()).toBeGreaterThan(200);
  } finally {
    adversary.close();
  }
});
