/** `--since/--until` values: ISO 8601 with or without zone (local time), stunnel's own format, durations before now. */
import { describe, expect, it } from 'vitest';
import { parseTimeArg, TimeWindow, logTimeMs, TimeArgError } from '../src/time-window.js';

const NOW = Date.UTC(2026, 11, 2, 12, 0, 0);

describe('logTimeMs', () => {
  it('converts local wall times as Date does, across minutes, days and time zone changes, in any order', () => {
    const saved = process.env.TZ;
    const pad = (n: number) => String(n).padStart(2, '0');
    const wall = (d: Date) =>
      `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
    let compared = 0;
    try {
      // Zones with DST of an hour, of half an hour (Lord Howe), and without (a :45 offset).
      for (const tz of ['UTC', 'Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe', 'Asia/Kathmandu']) {
        process.env.TZ = tz;
        // Every 37 s over the nights of the 2026 changes in Europe, the US and Lord Howe.
        const nights = [Date.UTC(2026, 2, 28, 22), Date.UTC(2026, 9, 24, 22), Date.UTC(2026, 2, 8, 4), Date.UTC(2026, 10, 1, 4), Date.UTC(2026, 3, 4, 13)];
        const times = nights.flatMap((n) => Array.from({ length: 400 }, (_, k) => wall(new Date(n + k * 37_000))));
        // In log order, then back and forth (a later file, an earlier one).
        for (const t of [...times, ...times.slice().reverse(), ...times.filter((_, i) => i % 7 === 0)]) {
          const [y, mo, d, h, mi, sec] = t.split(/[-T:]/).map(Number) as [number, number, number, number, number, number];
          expect(logTimeMs(t)).toBe(new Date(y, mo - 1, d, h, mi, sec).getTime());
          compared++;
        }
      }
    } finally {
      if (saved === undefined) delete process.env.TZ;
      else process.env.TZ = saved;
    }
    expect(compared).toBe(5 * (2000 * 2 + Math.ceil(2000 / 7)));
    expect(logTimeMs(null)).toBeNaN();
    expect(logTimeMs('2026-11-22T06:37:xx')).toBeNaN();
  });
});

describe('parseTimeArg', () => {
  it('reads zones exactly and zone-less times as local time', () => {
    expect(parseTimeArg('2026-11-22T06:37:01Z', '--since')).toBe(Date.UTC(2026, 10, 22, 6, 37, 1));
    expect(parseTimeArg('2026-11-22T06:37:01+01:00', '--since')).toBe(Date.UTC(2026, 10, 22, 5, 37, 1));
    expect(parseTimeArg('2026-11-22T06:37:01-0230', '--since')).toBe(Date.UTC(2026, 10, 22, 9, 7, 1));
    expect(parseTimeArg('2026-11-22T06:37:01.250Z', '--since')).toBe(Date.UTC(2026, 10, 22, 6, 37, 1, 250));
    expect(parseTimeArg('2026-11-22T06:37:01', '--since')).toBe(new Date(2026, 10, 22, 6, 37, 1).getTime());
    expect(parseTimeArg('2026-11-22 06:37', '--since')).toBe(new Date(2026, 10, 22, 6, 37, 0).getTime());
    expect(parseTimeArg('2026-11-22', '--since')).toBe(new Date(2026, 10, 22).getTime());
    // Pasted from a stunnel log line.
    expect(parseTimeArg('2026.11.22 06:37:01', '--since')).toBe(new Date(2026, 10, 22, 6, 37, 1).getTime());
  });

  it('reads durations as that long before now', () => {
    expect(parseTimeArg('30m', '--since', NOW)).toBe(NOW - 30 * 60_000);
    expect(parseTimeArg('2h', '--since', NOW)).toBe(NOW - 2 * 3_600_000);
    expect(parseTimeArg('1d', '--since', NOW)).toBe(NOW - 86_400_000);
    expect(parseTimeArg('1h30m', '--since', NOW)).toBe(NOW - 90 * 60_000);
    expect(parseTimeArg('1.5h', '--since', NOW)).toBe(NOW - 90 * 60_000);
  });

  it('refuses anything else, naming the option and the value', () => {
    for (const bad of ['', 'now', '2h ago', '-2h', '2026-13-01', '2026-02-30', '2026-11-22T24:00', '2026-11-22T06:37:01+25:00', '22/11/2026']) {
      expect(() => parseTimeArg(bad, '--until', NOW)).toThrow(TimeArgError);
      expect(() => parseTimeArg(bad, '--until', NOW)).toThrow(`invalid --until value '${bad}'`);
    }
  });
});

describe('TimeWindow', () => {
  it('places event times inclusively, whole seconds, and keeps untimed events', () => {
    const w = TimeWindow.parse({ since: '2026-11-22T06:37:01', until: '2026-11-22T06:37:03' });
    expect(w.place('2026-11-22T06:37:00')).toBe('before');
    expect(w.place('2026-11-22T06:37:01')).toBe('in');
    expect(w.place('2026-11-22T06:37:03')).toBe('in');
    expect(w.place('2026-11-22T06:37:04')).toBe('after');
    expect(w.place(null)).toBe('untimed');
    expect(new TimeWindow(null, null).place(null)).toBe('in');
    expect(TimeWindow.parse({ since: '2026-11-22T06:37:01.500' }).place('2026-11-22T06:37:01')).toBe('in');
    expect(logTimeMs('2026-11-22T06:37:01')).toBe(new Date(2026, 10, 22, 6, 37, 1).getTime());
    expect(() => TimeWindow.parse({ since: '1h', until: '2h' }, NOW)).toThrow('--since 1h is after --until 2h');
  });
});
