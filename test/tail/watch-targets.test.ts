/**
 * The names a follower watches (the path and the rotated names it is given for watching) are kept between
 * checks and made again when the names given change: a new name is watched, a name no longer given is not.
 */
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DirWatchHub, type WatchListener } from '../../src/tail/watch.js';
import { Collector, Lines, Scratch, Written } from './helpers.js';

const s = new Scratch();
afterEach(() => s.cleanup());

/** A hub that records which names are watched. */
class RecordingHub extends DirWatchHub {
  readonly watched = new Set<string>();
  subscribes = 0;
  override subscribe(dir: string, name: string, fn: WatchListener): (() => void) | null {
    const u = super.subscribe(dir, name, fn);
    if (!u) return null;
    this.subscribes++;
    this.watched.add(name);
    return () => {
      this.watched.delete(name);
      u();
    };
  }
}

describe('watched names', () => {
  it('keeps its watches between checks and follows a change of the names it is given', async () => {
    const dir = s.dir();
    const p = path.join(dir, 'stunnel.log');
    new Written().append(p, new Lines().take(1));
    const hub = new RecordingHub();
    let forWatch = ['stunnel.log.1', 'stunnel.log.2'];
    const asked: boolean[] = [];
    const f = await s.follow({
      path: p, watchHub: hub, pollMs: 60_000,
      rotatedNames: (_p, w) => {
        asked.push(w);
        return w ? forWatch : ['stunnel.log.1'];
      },
    }, new Collector());
    expect([...hub.watched].sort()).toEqual(['stunnel.log', 'stunnel.log.1', 'stunnel.log.2']);
    const subscribed = hub.subscribes;
    await f.check();
    await f.check();
    expect(hub.subscribes).toBe(subscribed); // nothing watched again
    expect(asked.filter((w) => w).length).toBeGreaterThanOrEqual(3); // asked at every check
    forWatch = ['stunnel.log.1', 'stunnel.log-20261203'];
    await f.check();
    expect([...hub.watched].sort()).toEqual(['stunnel.log', 'stunnel.log-20261203', 'stunnel.log.1']);
    forWatch.push('stunnel.log.3'); // the same array, changed in place
    await f.check();
    expect([...hub.watched].sort()).toEqual(['stunnel.log', 'stunnel.log-20261203', 'stunnel.log.1', 'stunnel.log.3']);
  });
});
